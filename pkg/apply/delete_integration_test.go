package apply_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/apply"
)

func TestFindPlanDeleteRemovesOnlyWhatApplyCreated(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	ctx := ctxT(t)
	a, _ := newApplier(t, c)
	existing := c.Namespace(t)
	fresh, kept := newNamespaceName(t, c), newNamespaceName(t, c)
	// Objects of others: one existed before and is taken over, one only wears our label.
	_, err := c.Client.CoreV1().ConfigMaps(existing).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "taken-over"}, Data: map[string]string{"mine": "yes"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.Client.CoreV1().ConfigMaps(existing).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "lookalike", Labels: map[string]string{managedBy: apply.FieldManager}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	objs := []*unstructured.Unstructured{
		object("v1", "Namespace", "", fresh, nil),
		object("v1", "Namespace", "", kept, nil),
		configMap(fresh, "a", nil),
		configMap(kept, "b", nil),
		configMap(existing, "taken-over", map[string]any{"k": "v"}),
		configMap(existing, "created", nil),
	}
	_, err = a.Apply(ctx, objs, apply.Options{})
	require.NoError(t, err)
	// Someone stores a Secret in one of the plugin's namespaces: that namespace must stay.
	_, err = c.Client.CoreV1().Secrets(kept).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nas-ssh-key"}, StringData: map[string]string{"id": "secret"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	kinds := []schema.GroupVersionKind{{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "ConfigMap"}, {Group: "example.com", Version: "v1", Kind: "Gadget"}}
	found, err := a.Find(ctx, kinds, managedBy+"="+apply.FieldManager, nil)
	require.NoError(t, err)
	var ids []string
	for _, f := range found {
		if ns := f.Obj.GetNamespace(); ns == existing || ns == fresh || ns == kept || f.Obj.GetName() == fresh || f.Obj.GetName() == kept {
			ids = append(ids, f.ID())
		}
	}
	assert.ElementsMatch(t, []string{"Namespace/" + fresh, "Namespace/" + kept, "ConfigMap/" + fresh + "/a", "ConfigMap/" + kept + "/b",
		"ConfigMap/" + existing + "/taken-over", "ConfigMap/" + existing + "/created"}, ids, "the lookalike has our label but not our field manager")

	var mine []apply.Installed
	for _, f := range found {
		for _, o := range objs {
			if f.Obj.GetName() == o.GetName() && f.Obj.GetNamespace() == o.GetNamespace() {
				mine = append(mine, f)
			}
		}
	}
	plan, del, err := a.PlanDelete(ctx, mine)
	require.NoError(t, err)
	got := actions(plan)
	assert.Equal(t, map[string]apply.Action{
		"Namespace/" + fresh: apply.Deleted, "ConfigMap/" + fresh + "/a": apply.Deleted,
		"Namespace/" + kept: apply.Kept, "ConfigMap/" + kept + "/b": apply.Deleted,
		"ConfigMap/" + existing + "/taken-over": apply.Kept, "ConfigMap/" + existing + "/created": apply.Deleted,
	}, got)
	for _, ch := range plan.Changes {
		if ch.ID() == "Namespace/"+kept {
			assert.Contains(t, ch.Message, "Secret/"+kept+"/nas-ssh-key")
		}
	}
	require.NoError(t, a.Delete(ctx, del))
	waitGone := func(get func(ctx context.Context) error) {
		require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(get(ctx)), nil
		}))
	}
	waitGone(func(ctx context.Context) error {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, fresh, metav1.GetOptions{})
		return err
	})
	waitGone(func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ConfigMaps(existing).Get(ctx, "created", metav1.GetOptions{})
		return err
	})
	for ns, name := range map[string]string{existing: "taken-over"} {
		_, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
	}
	_, err = c.Client.CoreV1().ConfigMaps(existing).Get(ctx, "lookalike", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = c.Client.CoreV1().Secrets(kept).Get(ctx, "nas-ssh-key", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = c.Client.CoreV1().ConfigMaps(kept).Get(ctx, "b", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "b is deleted although its namespace stays: %v", err)
}
