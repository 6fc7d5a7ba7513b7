package apply

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func obj(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{
		{Version: "v1"}, {Group: "helm.toolkit.fluxcd.io", Version: "v2beta1"},
		{Group: "monitoring.coreos.com", Version: "v1"}, {Group: "apiextensions.k8s.io", Version: "v1"},
	})
	m.Add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2beta1", Kind: "HelmRelease"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, meta.RESTScopeNamespace)
	return m
}

func TestCheckKinds(t *testing.T) {
	flux := CRD{Name: "helmreleases.helm.toolkit.fluxcd.io", Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease", HowToGet: "install Flux: flux install"}
	eso := CRD{Name: "externalsecrets.external-secrets.io", Group: "external-secrets.io", Kind: "ExternalSecret", HowToGet: "install External Secrets Operator"}
	widgetCRD := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", map[string]any{
		"spec": map[string]any{"group": "example.com", "names": map[string]any{"kind": "Widget"}},
	})
	tests := map[string]struct {
		objs     []*unstructured.Unstructured
		required []CRD
		want     []string // substrings of the error, none when empty
	}{
		"all served": {
			objs: []*unstructured.Unstructured{obj("v1", "ConfigMap", "a", "x", nil), obj("monitoring.coreos.com/v1", "ServiceMonitor", "a", "x", nil)},
		},
		"a required CRD no object uses yet": {
			objs:     []*unstructured.Unstructured{obj("v1", "ConfigMap", "a", "x", nil)},
			required: []CRD{eso},
			want:     []string{"externalsecrets.external-secrets.io (ExternalSecret external-secrets.io): not installed; install External Secrets Operator"},
		},
		"an old version only": {
			objs:     []*unstructured.Unstructured{obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "a", "x", nil)},
			required: []CRD{flux},
			want:     []string{"helmreleases.helm.toolkit.fluxcd.io (HelmRelease helm.toolkit.fluxcd.io/v2): the cluster serves only v2beta1; install Flux: flux install"},
		},
		"a kind nobody declared": {
			objs: []*unstructured.Unstructured{obj("example.com/v1", "Gadget", "a", "x", nil)},
			want: []string{"Gadget.example.com (Gadget example.com/v1): not installed"},
		},
		"a kind defined by a CRD among the objects": {
			objs: []*unstructured.Unstructured{widgetCRD, obj("example.com/v1", "Widget", "a", "x", nil)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckKinds(testMapper(), tc.objs, tc.required)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			var missing *MissingError
			require.ErrorAs(t, err, &missing)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "nothing was applied")
		})
	}
}

func TestIsSubset(t *testing.T) {
	live := map[string]any{
		"metadata": map[string]any{"name": "x", "resourceVersion": "7", "labels": map[string]any{"a": "1", "b": "2"}},
		"data":     map[string]any{"k": "v"},
		"spec":     map[string]any{"replicas": int64(2), "ratio": 0.5, "list": []any{"a", map[string]any{"x": int64(1), "y": "z"}}},
	}
	tests := map[string]struct {
		desired map[string]any
		want    bool
	}{
		"fewer fields":        {map[string]any{"metadata": map[string]any{"name": "x", "labels": map[string]any{"a": "1"}}}, true},
		"changed value":       {map[string]any{"data": map[string]any{"k": "w"}}, false},
		"new field":           {map[string]any{"data": map[string]any{"new": "v"}}, false},
		"number as float":     {map[string]any{"spec": map[string]any{"replicas": float64(2)}}, true},
		"float":               {map[string]any{"spec": map[string]any{"ratio": 0.5}}, true},
		"list element subset": {map[string]any{"spec": map[string]any{"list": []any{"a", map[string]any{"x": int64(1)}}}}, true},
		"shorter list":        {map[string]any{"spec": map[string]any{"list": []any{"a"}}}, false},
		"null field absent":   {map[string]any{"spec": map[string]any{"gone": nil}}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, isSubset(tc.desired, live))
		})
	}
}

func TestFluxOwner(t *testing.T) {
	tests := map[string]struct {
		labels map[string]string
		want   string
	}{
		"none":          {map[string]string{"app": "x"}, ""},
		"kustomization": {map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, "Kustomization flux-system/apps"},
		"helm release":  {map[string]string{"helm.toolkit.fluxcd.io/name": "kps", "helm.toolkit.fluxcd.io/namespace": "monitoring"}, "HelmRelease monitoring/kps"},
		"other label":   {map[string]string{"kustomize.toolkit.fluxcd.io/prune": "disabled"}, "Flux (labels kustomize.toolkit.fluxcd.io/prune)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := obj("v1", "ConfigMap", "a", "x", nil)
			u.SetLabels(tc.labels)
			assert.Equal(t, tc.want, FluxOwner(u))
		})
	}
}

func TestObjectStatus(t *testing.T) {
	cond := func(typ, st string) map[string]any {
		return map[string]any{"type": typ, "status": st, "reason": "R", "message": "m"}
	}
	hr := func(status map[string]any) *unstructured.Unstructured {
		u := obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "a", "x", nil)
		u.SetGeneration(2)
		if status != nil {
			u.Object["status"] = status
		}
		return u
	}
	tests := map[string]struct {
		u          *unstructured.Unstructured
		needsReady bool
		want       status.Status
	}{
		"configmap":                       {obj("v1", "ConfigMap", "a", "x", nil), false, status.CurrentStatus},
		"helmrelease without status":      {hr(nil), true, status.InProgressStatus},
		"helmrelease without status, lax": {hr(nil), false, status.CurrentStatus},
		"helmrelease ready":               {hr(map[string]any{"observedGeneration": int64(2), "conditions": []any{cond("Ready", "True")}}), true, status.CurrentStatus},
		"helmrelease ready, old gen":      {hr(map[string]any{"observedGeneration": int64(1), "conditions": []any{cond("Ready", "True")}}), true, status.InProgressStatus},
		"helmrelease not ready":           {hr(map[string]any{"observedGeneration": int64(2), "conditions": []any{cond("Ready", "False")}}), true, status.InProgressStatus},
		"helmrelease stalled":             {hr(map[string]any{"observedGeneration": int64(2), "conditions": []any{cond("Stalled", "True")}}), true, status.FailedStatus},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _ := ObjectStatus(tc.u, tc.needsReady)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReportsReady(t *testing.T) {
	assert.True(t, ReportsReady(schema.GroupKind{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}))
	assert.True(t, ReportsReady(schema.GroupKind{Group: "source.toolkit.fluxcd.io", Kind: "HelmRepository"}))
	assert.True(t, ReportsReady(schema.GroupKind{Group: "external-secrets.io", Kind: "ExternalSecret"}))
	assert.False(t, ReportsReady(schema.GroupKind{Group: "monitoring.coreos.com", Kind: "PrometheusRule"}))
	assert.False(t, ReportsReady(schema.GroupKind{Kind: "ConfigMap"}))
}

func TestChangeSet(t *testing.T) {
	objs := []*unstructured.Unstructured{
		obj("v1", "Namespace", "", "mon", nil),
		obj("v1", "ConfigMap", "mon", "b", nil),
		obj("v1", "ConfigMap", "mon", "a", nil),
	}
	changes := []Change{
		changeFor(objs[2], Unchanged, ""),
		changeFor(objs[0], Created, ""),
		changeFor(objs[1], Conflict, "fields owned by another manager: .data.k"),
	}
	sortLike(changes, objs)
	cs := &ChangeSet{DryRun: DryRunServer, Changes: changes}
	var out bytes.Buffer
	require.NoError(t, cs.WriteText(&out))
	assert.Equal(t, "Namespace/mon created (server dry run)\n"+
		"ConfigMap/mon/b conflict (server dry run): fields owned by another manager: .data.k\n"+
		"ConfigMap/mon/a unchanged (server dry run)\n", out.String())
	assert.Equal(t, "1 created, 1 unchanged, 1 conflict (server dry run)", cs.Summary())
	assert.Equal(t, "no objects", (&ChangeSet{}).Summary())
}

func TestParseDryRun(t *testing.T) {
	for in, want := range map[string]DryRun{"": DryRunNone, "none": DryRunNone, "client": DryRunClient, "server": DryRunServer} {
		got, err := ParseDryRun(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	_, err := ParseDryRun("true")
	require.Error(t, err)
}
