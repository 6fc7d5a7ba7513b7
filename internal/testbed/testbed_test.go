package testbed_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestMain(m *testing.M) {
	podrun.MaybeRunContainerInit() // before panicChild, which starts a bed of its own
	if dir := os.Getenv(panicChildEnv); dir != "" {
		panicChild(dir)
	}
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}

// runPlugin runs `kubectl picluster ARGS` in-process and returns stdout, stderr, exit code.
func runPlugin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := plugintest.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

// waitFor polls cond every 100 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, 100*time.Millisecond, cond), what)
}

func TestVersionReportsServerVersion(t *testing.T) {
	c := testbed.Require(t)
	out, errOut, code := runPlugin(t, "--kubeconfig", c.Kubeconfig, "version", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var res struct {
		ServerVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"serverVersion"`
		ServerError string `json:"serverError"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Empty(t, res.ServerError)
	assert.Equal(t, c.KubeVersion, res.ServerVersion.GitVersion)
	assert.Equal(t, "v1.37.2", res.ServerVersion.GitVersion)
}

func TestCRDsAreInstalledAndValidate(t *testing.T) {
	c := testbed.Require(t)
	ns := c.Namespace(t)
	ctx := context.Background()
	for _, name := range []string{
		"servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com",
		"prometheuses.monitoring.coreos.com", "alertmanagers.monitoring.coreos.com",
		"helmreleases.helm.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
		"externalsecrets.external-secrets.io", "secretstores.external-secrets.io",
		"clustersecretstores.external-secrets.io",
	} {
		_, err := c.Dynamic.Resource(schema.GroupVersionResource{
			Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions",
		}).Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, name)
	}
	// The generated schemas validate for real: a numeric port name is refused.
	sm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
		"metadata": map[string]any{"name": "immich"},
		"spec": map[string]any{
			"selector":  map[string]any{"matchLabels": map[string]any{"app": "immich"}},
			"endpoints": []any{map[string]any{"port": int64(8081)}},
		},
	}}
	gvr := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	_, err := c.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, sm, metav1.CreateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), err)
}

func TestJobFromCronJobCompletes(t *testing.T) {
	c := testbed.Require(t)
	ns := c.Namespace(t)
	ctx := context.Background()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: ns},
		Spec: batchv1.CronJobSpec{
			Schedule: "30 2 * * 0", TimeZone: ptr.To("Europe/Berlin"),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					// alpine runs for real on a root bed (package podrun); kwok simulates it otherwise.
					Containers: []corev1.Container{{Name: "backup", Image: "alpine:3.22", Command: []string{"sh", "-c", "echo backup done"}}},
				}},
			}},
		},
	}
	cj, err := c.Client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: "backup-manual", Namespace: ns,
			Annotations:     map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	_, err = c.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "job completes", func(ctx context.Context) (bool, error) {
		j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestDeploymentScales(t *testing.T) {
	c := testbed.Require(t)
	ns := c.Namespace(t)
	ctx := context.Background()
	deploy := deployment(ns, "immich-server", 0)
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, replicas := range []int32{3, 0} {
		scale, err := c.Client.AppsV1().Deployments(ns).GetScale(ctx, deploy.Name, metav1.GetOptions{})
		require.NoError(t, err)
		scale.Spec.Replicas = replicas
		_, err = c.Client.AppsV1().Deployments(ns).UpdateScale(ctx, deploy.Name, scale, metav1.UpdateOptions{})
		require.NoError(t, err)
		began := time.Now()
		waitFor(t, "deployment scaled", func(ctx context.Context) (bool, error) {
			d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, deploy.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deploy.Name})
			if err != nil {
				return false, err
			}
			return d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == replicas &&
				d.Status.Replicas == replicas && len(pods.Items) == int(replicas), nil
		})
		t.Logf("scaled to %d in %s", replicas, time.Since(began).Round(time.Millisecond))
	}
}

func TestNoRightsUserIsForbidden(t *testing.T) {
	c := testbed.Require(t)
	ns := c.Namespace(t)
	other := c.Namespace(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.NoRightsKubeconfig)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	_, err = client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "want 403, got %v", err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err))

	// A narrow Role gives exactly what it says and nothing outside it.
	_, err = c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: c.NoRightsUser}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "role takes effect", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	_, err = client.CoreV1().Pods(other).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "want 403 outside the role, got %v", err)
	_, err = client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "want 403 for secrets, got %v", err)
}
