package install_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/apply"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
)

func TestMain(m *testing.M) {
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}

// The components that create no cluster-scoped objects, so tests can run them in parallel.
var namespaced = []string{"--component", bundle.Monitoring, "--component", bundle.Immich, "--component", bundle.Backup}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func args(base []string, more ...string) []string {
	return append(append([]string{}, base...), more...)
}

func TestInstallReinstallUninstallLeavesTheClusterAsBefore(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	// Objects of others: a ConfigMap that even wears the plugin's label.
	_, err := c.Client.CoreV1().ConfigMaps(e.immich).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "users-own", Labels: map[string]string{bundle.ManagedByLabel: bundle.ManagedByValue}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	before := e.snapshot(t)
	objs := e.rendered(t, namespaced...)
	require.NotEmpty(t, objs)

	r := e.plugin(t, "", args([]string{"install"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	lines := strings.Split(strings.TrimSpace(r.Out), "\n")
	assert.Len(t, lines, len(objs), r.Out)
	for _, l := range lines {
		assert.True(t, strings.HasSuffix(l, " created"), l)
	}
	assert.Contains(t, r.Err, "install: "+strconv.Itoa(len(objs))+" created")
	m := mapper(t, c)
	for _, o := range objs {
		u := live(t, c, m, o)
		require.NotNil(t, u, "%s/%s", o.GetKind(), o.GetName())
		assert.Equal(t, bundle.ManagedByValue, u.GetLabels()[bundle.ManagedByLabel])
		assert.Equal(t, apply.FieldManager, u.GetManagedFields()[0].Manager)
	}

	r = e.plugin(t, "", args([]string{"install", "-o", "json"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	var cs apply.ChangeSet
	require.NoError(t, json.Unmarshal([]byte(r.Out), &cs), r.Out)
	assert.Len(t, cs.Changes, len(objs))
	assert.Equal(t, len(objs), cs.Count(apply.Unchanged), "re-install changes nothing: %s", r.Out)
	r = e.plugin(t, "", args([]string{"install"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Err, "install: nothing changed ("+strconv.Itoa(len(objs))+" unchanged)")

	r = e.plugin(t, "", args([]string{"uninstall", "--yes"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Out, "Namespace/"+e.monitoring+" deleted")
	assert.NotContains(t, r.Out, "users-own")
	e.waitGone(t, e.monitoring, e.backup)
	assert.Equal(t, before, e.snapshot(t), "uninstall leaves the cluster as before install")

	r = e.plugin(t, "", args([]string{"uninstall", "--yes"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Err, "nothing to remove")
}

func TestUninstallKeepsWhatOthersPutInItsNamespaces(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	r := e.plugin(t, "", "install", "--component", bundle.Backup)
	require.Equal(t, 0, r.Code, r.Err)
	ctx := context.Background()
	_, err := c.Client.CoreV1().Secrets(e.backup).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nas-key-by-hand"}, StringData: map[string]string{"key": "s3cret-value"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	r = e.plugin(t, "", "uninstall", "--component", bundle.Backup, "--dry-run")
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Out, "Namespace/"+e.backup+" kept (client dry run): holds objects install did not create: Secret/"+e.backup+"/nas-key-by-hand")
	assert.NotContains(t, r.Out+r.Err, "s3cret-value")

	r = e.plugin(t, "", "uninstall", "--component", bundle.Backup, "--yes")
	require.Equal(t, 0, r.Code, r.Err)
	s, err := c.Client.CoreV1().Secrets(e.backup).Get(ctx, "nas-key-by-hand", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "s3cret-value", string(s.Data["key"]))
	cms, err := c.Client.CoreV1().ConfigMaps(e.backup).List(ctx, metav1.ListOptions{LabelSelector: bundle.ManagedByLabel})
	require.NoError(t, err)
	assert.Empty(t, cms.Items, "the bundle's own objects are gone")
}

func TestUninstallAsksFirst(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	r := e.plugin(t, "", "install", "--component", bundle.Backup)
	require.Equal(t, 0, r.Code, r.Err)
	nsExists := func() bool {
		_, err := c.Client.CoreV1().Namespaces().Get(context.Background(), e.backup, metav1.GetOptions{})
		return err == nil
	}
	for name, stdin := range map[string]string{"no": "n\n", "no answer": ""} {
		r = e.plugin(t, stdin, "uninstall", "--component", bundle.Backup)
		assert.Equal(t, 1, r.Code, name)
		assert.Contains(t, r.Err, "[y/N]", name)
		assert.Contains(t, r.Err, "nothing was deleted", name)
		assert.True(t, nsExists(), name)
	}
	r = e.plugin(t, "yes\n", "uninstall", "--component", bundle.Backup)
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Out, "Namespace/"+e.backup+" deleted")
	e.waitGone(t, e.backup)
}

func TestInstallReportsConflictsAndOverwritesNothing(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	r := e.plugin(t, "", "install", "--component", bundle.Backup)
	require.Equal(t, 0, r.Code, r.Err)
	ctx := context.Background()
	cronJobs, err := c.Client.BatchV1().CronJobs(e.backup).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, cronJobs.Items)
	cj := cronJobs.Items[0]
	cj.Spec.Schedule = "15 3 * * *"
	_, err = c.Client.BatchV1().CronJobs(e.backup).Update(ctx, &cj, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	r = e.plugin(t, "", "install", "--component", bundle.Backup)
	require.Equal(t, 1, r.Code, r.Err)
	assert.Contains(t, r.Out, "CronJob/"+e.backup+"/"+cj.Name+" conflict: fields owned by another manager: .spec.schedule")
	assert.Contains(t, r.Err, `kubectl-edit`)
	assert.Contains(t, r.Err, "--force-conflicts")
	got, err := c.Client.BatchV1().CronJobs(e.backup).Get(ctx, cj.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "15 3 * * *", got.Spec.Schedule, "nothing is overwritten")

	r = e.plugin(t, "", "install", "--component", bundle.Backup, "--force-conflicts")
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Out, "CronJob/"+e.backup+"/"+cj.Name+" configured")
	got, err = c.Client.BatchV1().CronJobs(e.backup).Get(ctx, cj.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, "15 3 * * *", got.Spec.Schedule)
}

func TestInstallRefusesWhatFluxManages(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	ns := namespace(e.monitoring)
	ns.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "infrastructure", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{FieldManager: "kustomize-controller"})
	require.NoError(t, err)
	settle(t, c, e.monitoring)
	before := e.snapshot(t)

	r := e.plugin(t, "", args([]string{"install"}, namespaced...)...)
	require.Equal(t, 1, r.Code, r.Err)
	assert.Contains(t, r.Out, "Namespace/"+e.monitoring+" refused: managed by Kustomization flux-system/infrastructure")
	assert.Contains(t, r.Err, "install --export")
	assert.Equal(t, before, e.snapshot(t), "nothing is applied")
}

func TestInstallServerDryRunCreatesNothing(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	objs := e.rendered(t, namespaced...)
	before := e.snapshot(t)

	r := e.plugin(t, "", args([]string{"install", "--dry-run=server", "-o", "json"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	var cs apply.ChangeSet
	require.NoError(t, json.Unmarshal([]byte(r.Out), &cs), r.Out)
	assert.Equal(t, apply.DryRunServer, cs.DryRun)
	assert.Equal(t, len(objs), cs.Count(apply.Created), r.Out)
	assert.Equal(t, before, e.snapshot(t), "a server dry run creates nothing")

	// Once installed, a dry run sees an edit that install would undo.
	r = e.plugin(t, "", args([]string{"install"}, namespaced...)...)
	require.Equal(t, 0, r.Code, r.Err)
	for _, mode := range []string{"server", "client"} {
		r = e.plugin(t, "", args([]string{"install", "--dry-run=" + mode}, namespaced...)...)
		require.Equal(t, 0, r.Code, r.Err)
		assert.Equal(t, len(objs), strings.Count(r.Out, " unchanged ("+mode+" dry run)"), r.Out)
	}
}

// firstOfKind finds the rendered object of a kind.
func firstOfKind(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

func TestInstallWaitsForFluxToReportReady(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	objs := e.rendered(t, "--component", bundle.Monitoring)
	require.NotNil(t, firstOfKind(objs, "HelmRelease"))

	began := time.Now()
	r := e.plugin(t, "", "install", "--component", bundle.Monitoring, "--wait", "--timeout", "3s")
	require.Equal(t, 124, r.Code, r.Err)
	assert.Less(t, time.Since(began), 20*time.Second)
	assert.Contains(t, r.Err, "timed out")
	assert.Contains(t, r.Err, "HelmRelease/"+e.monitoring+"/")
	assert.Contains(t, r.Err, "waiting for its controller to report Ready")

	// Play Flux and ESO: report Ready on everything that reports it.
	m := mapper(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The marking goroutine ends before the test does: install may see the last status
	// written before the goroutine has read the server's answer, and a cancelled request
	// then would fail the test for nothing (it did once, in a loaded CI run).
	marked := make(chan struct{})
	defer func() { <-marked }()
	go func() {
		defer close(marked)
		time.Sleep(time.Second)
		for _, o := range objs {
			if apply.ReportsReady(o.GroupVersionKind().GroupKind()) {
				if err := markReady(ctx, c, m, o); err != nil {
					t.Errorf("mark %s ready: %v", o.GetName(), err)
				}
			}
		}
	}()
	r = e.plugin(t, "", "install", "--component", bundle.Monitoring, "--wait", "--timeout", "60s")
	require.Equal(t, 0, r.Code, r.Err)
	assert.Contains(t, r.Err, "ready after")
}
