package apply_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/apply"
)

func TestMain(m *testing.M) {
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}

const managedBy = "app.kubernetes.io/managed-by"

func newApplier(t *testing.T, c *testbed.Cluster) (*apply.Applier, *testbed.SyncBuffer) {
	t.Helper()
	progress := &testbed.SyncBuffer{}
	a, err := apply.New(c.Config, progress)
	require.NoError(t, err)
	return a, progress
}

func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(map[string]string{managedBy: apply.FieldManager})
	return u
}

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	return object("v1", "ConfigMap", ns, name, map[string]any{"data": data})
}

// newNamespaceName is a namespace the test's apply creates; it is deleted after the test.
func newNamespaceName(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	name := "ap-" + rand.String(6)
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func actions(cs *apply.ChangeSet) map[string]apply.Action {
	out := map[string]apply.Action{}
	for _, ch := range cs.Changes {
		out[ch.ID()] = ch.Action
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestApplyTwoStagesThenUnchangedThenConfigured(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, progress := newApplier(t, c)
	ns := newNamespaceName(t, c)
	group := rand.String(6) + ".example.com"
	crd := object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets."+group, map[string]any{
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	})
	t.Cleanup(func() {
		gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = c.Dynamic.Resource(gvr).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{})
	})
	objs := []*unstructured.Unstructured{
		object("v1", "Namespace", "", ns, nil),
		configMap(ns, "settings", map[string]any{"k": "v"}),
		crd,
		object(group+"/v1", "Widget", ns, "w1", map[string]any{"spec": map[string]any{"size": int64(3)}}),
	}

	cs, err := a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err, progress.String())
	assert.Equal(t, map[string]apply.Action{
		"Namespace/" + ns: apply.Created, "ConfigMap/" + ns + "/settings": apply.Created,
		"CustomResourceDefinition/widgets." + group: apply.Created, "Widget/" + ns + "/w1": apply.Created,
	}, actions(cs))
	assert.Equal(t, "Namespace/"+ns, cs.Changes[0].ID(), "the change set keeps the objects' order")
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, apply.FieldManager, cm.Annotations[apply.CreatedAnnotation])
	require.NotEmpty(t, cm.ManagedFields)
	assert.Equal(t, apply.FieldManager, cm.ManagedFields[0].Manager)

	cs, err = a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err)
	assert.Equal(t, len(objs), cs.Count(apply.Unchanged), "re-applying changes nothing: %s", cs.Summary())

	objs[1] = configMap(ns, "settings", map[string]any{"k": "v2"})
	cs, err = a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err)
	assert.Equal(t, apply.Configured, actions(cs)["ConfigMap/"+ns+"/settings"])
	assert.Equal(t, 3, cs.Count(apply.Unchanged))
}

func TestApplyReportsConflictsAndOverwritesNothing(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, _ := newApplier(t, c)
	ns := c.Namespace(t)
	objs := []*unstructured.Unstructured{configMap(ns, "edited", map[string]any{"k": "v"})}
	_, err := a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err)

	// Someone edits the field the plugin owns, as `kubectl edit` would.
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "edited", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data["k"] = "by hand"
	_, err = c.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	objs = append(objs, configMap(ns, "other", map[string]any{"x": "y"}))
	cs, err := a.Apply(ctx, objs, apply.Options{})
	var applyErr *apply.ApplyError
	require.ErrorAs(t, err, &applyErr)
	require.Len(t, applyErr.Conflicts, 1)
	assert.Contains(t, applyErr.Conflicts[0].Message, `.data.k`)
	assert.Contains(t, applyErr.Conflicts[0].Message, `kubectl-edit`)
	assert.Contains(t, err.Error(), "--force-conflicts")
	assert.Equal(t, map[string]apply.Action{"ConfigMap/" + ns + "/edited": apply.Conflict, "ConfigMap/" + ns + "/other": apply.Created}, actions(cs))
	cm, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "edited", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "by hand", cm.Data["k"], "a conflict overwrites nothing")

	cs, err = a.Apply(ctx, objs, apply.Options{Force: true})
	require.NoError(t, err)
	assert.Equal(t, apply.Configured, actions(cs)["ConfigMap/"+ns+"/edited"])
	cm, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "edited", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v", cm.Data["k"])
}

func TestApplyRefusesObjectsManagedByFlux(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, progress := newApplier(t, c)
	ns := c.Namespace(t)
	_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "gitops", Labels: map[string]string{
			"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}},
		Data: map[string]string{"k": "from git"},
	}, metav1.CreateOptions{FieldManager: "kustomize-controller"})
	require.NoError(t, err)
	objs := []*unstructured.Unstructured{configMap(ns, "new", map[string]any{"a": "b"}), configMap(ns, "gitops", map[string]any{"k": "mine"})}

	cs, err := a.Apply(ctx, objs, apply.Options{})
	var refused *apply.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), "Kustomization flux-system/apps")
	assert.Contains(t, err.Error(), "--export")
	assert.Equal(t, map[string]apply.Action{"ConfigMap/" + ns + "/gitops": apply.Refused}, actions(cs))
	_, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "new", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing is applied when an object is refused: %v", err)

	cs, err = a.Apply(ctx, objs, apply.Options{Force: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]apply.Action{"ConfigMap/" + ns + "/gitops": apply.Configured, "ConfigMap/" + ns + "/new": apply.Created}, actions(cs))
	assert.Contains(t, progress.String(), "warning: ConfigMap/"+ns+"/gitops is managed by Kustomization flux-system/apps")
}

func TestApplyDryRunsWriteNothing(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, _ := newApplier(t, c)
	ns := c.Namespace(t)
	_, err := a.Apply(ctx, []*unstructured.Unstructured{
		configMap(ns, "same", map[string]any{"k": "v"}),
		configMap(ns, "changed", map[string]any{"k": "v"}),
	}, apply.Options{})
	require.NoError(t, err)
	fresh := newNamespaceName(t, c)
	objs := []*unstructured.Unstructured{
		object("v1", "Namespace", "", fresh, nil),
		configMap(fresh, "in-new-namespace", map[string]any{"k": "v"}),
		configMap(ns, "new", map[string]any{"k": "v"}),
		configMap(ns, "same", map[string]any{"k": "v"}),
		configMap(ns, "changed", map[string]any{"k": "v2"}),
	}
	want := map[string]apply.Action{
		"Namespace/" + fresh:                       apply.Created,
		"ConfigMap/" + fresh + "/in-new-namespace": apply.Created,
		"ConfigMap/" + ns + "/new":                 apply.Created,
		"ConfigMap/" + ns + "/same":                apply.Unchanged,
		"ConfigMap/" + ns + "/changed":             apply.Configured,
	}
	for _, mode := range []apply.DryRun{apply.DryRunServer, apply.DryRunClient} {
		t.Run(string(mode), func(t *testing.T) {
			cs, err := a.Apply(ctx, objs, apply.Options{DryRun: mode})
			require.NoError(t, err)
			assert.Equal(t, want, actions(cs))
			assert.Equal(t, mode, cs.DryRun)
			_, err = c.Client.CoreV1().Namespaces().Get(ctx, fresh, metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "dry run created the namespace: %v", err)
			_, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "new", metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "dry run created a ConfigMap: %v", err)
			cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "changed", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "v", cm.Data["k"])
		})
	}
}

func TestApplyChecksKindsAndNamespacesFirst(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, _ := newApplier(t, c)
	ns := c.Namespace(t)
	fresh := newNamespaceName(t, c)
	objs := []*unstructured.Unstructured{
		object("v1", "Namespace", "", fresh, nil),
		configMap(ns, "first", nil),
		object("monitoring.coreos.com/v1", "PrometheusRule", ns, "rules", map[string]any{"spec": map[string]any{}}),
	}
	required := []apply.CRD{{Name: "gadgets.example.com", Group: "example.com", Kind: "Gadget", HowToGet: "install the gadget operator"}}

	_, err := a.Apply(ctx, objs, apply.Options{Required: required})
	var missing *apply.MissingError
	require.ErrorAs(t, err, &missing)
	assert.Contains(t, err.Error(), "gadgets.example.com (Gadget example.com): not installed; install the gadget operator")
	_, err = c.Client.CoreV1().Namespaces().Get(ctx, fresh, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing is applied when a CRD is missing: %v", err)

	_, err = a.Apply(ctx, append(objs, configMap("no-such-namespace", "x", nil)), apply.Options{})
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, []string{"no-such-namespace"}, missing.Namespaces)
	_, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "first", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing is applied when a namespace is missing: %v", err)
}

func helmRelease(ns, name string) *unstructured.Unstructured {
	return object("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, name, map[string]any{"spec": map[string]any{
		"interval": "30m",
		"chart": map[string]any{"spec": map[string]any{"chart": "kube-prometheus-stack",
			"sourceRef": map[string]any{"kind": "HelmRepository", "name": "prometheus-community"}}},
	}})
}

// markReady sets the Ready condition through the status subresource, as helm-controller does.
func markReady(ctx context.Context, c *testbed.Cluster, obj *unstructured.Unstructured, gvr schema.GroupVersionResource) error {
	live, err := c.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	live.Object["status"] = map[string]any{
		"observedGeneration": live.GetGeneration(),
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "Helm install succeeded",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": live.GetGeneration(),
		}},
	}
	_, err = c.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).UpdateStatus(ctx, live, metav1.UpdateOptions{FieldManager: "helm-controller"})
	return err
}

func TestWaitForHelmReleaseReady(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, progress := newApplier(t, c)
	ns := c.Namespace(t)
	hr := helmRelease(ns, "kube-prometheus-stack")
	objs := []*unstructured.Unstructured{hr, configMap(ns, "plain", nil)}
	_, err := a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = a.Wait(short, objs, apply.WaitOptions{Interval: 100 * time.Millisecond})
	var waitErr *apply.WaitError
	require.ErrorAs(t, err, &waitErr)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	require.Len(t, waitErr.Pending, 1)
	assert.Equal(t, "HelmRelease/"+ns+"/kube-prometheus-stack", waitErr.Pending[0].ID)
	assert.Contains(t, progress.String(), "waiting for 1 object(s): HelmRelease/"+ns+"/kube-prometheus-stack InProgress")

	gvr := schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	go func() {
		time.Sleep(500 * time.Millisecond)
		if err := markReady(ctx, c, hr, gvr); err != nil {
			t.Errorf("mark ready: %v", err)
		}
	}()
	began := time.Now()
	require.NoError(t, a.Wait(ctx, objs, apply.WaitOptions{Interval: 100 * time.Millisecond}))
	assert.Less(t, time.Since(began), 10*time.Second)
}
