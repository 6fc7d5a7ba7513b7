package bundle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestValidateComponents(t *testing.T) {
	tests := map[string]struct {
		given []string
		err   string
	}{
		"none":                  {},
		"all five":              {given: []string{"monitoring", "immich", "backup", "restore-drill", "rbac"}},
		"one":                   {given: []string{"backup"}},
		"unknown":               {given: []string{"grafana"}, err: `unknown component "grafana": use one of monitoring, immich, backup, restore-drill, rbac`},
		"unknown among known":   {given: []string{"backup", "alerts"}, err: `unknown component "alerts"`},
		"case matters":          {given: []string{"Backup"}, err: `unknown component "Backup"`},
		"empty name is refused": {given: []string{""}, err: `unknown component ""`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ValidateComponents(tc.given)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
			assert.Equal(t, exitcode.Usage, exitcode.Code(err), "a bad --component is a usage error")
		})
	}
}

func TestSelector(t *testing.T) {
	tests := map[string]struct {
		components []string
		want       string
	}{
		"all":  {want: "app.kubernetes.io/managed-by=kubectl-picluster"},
		"one":  {components: []string{"backup"}, want: "app.kubernetes.io/managed-by=kubectl-picluster,picluster.io/component in (backup)"},
		"two":  {components: []string{"immich", "rbac"}, want: "app.kubernetes.io/managed-by=kubectl-picluster,picluster.io/component in (immich,rbac)"},
		"none": {components: []string{}, want: "app.kubernetes.io/managed-by=kubectl-picluster"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, Selector(tc.components))
		})
	}
}

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}

func TestScope(t *testing.T) {
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	ns := schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	cj := schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
	cr := schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	tests := map[string]struct {
		objs       []*unstructured.Unstructured
		kinds      []schema.GroupVersionKind
		namespaces []string
	}{
		"nothing": {},
		"namespaced objects, each kind and namespace once, in first-seen order": {
			objs:       []*unstructured.Unstructured{obj("batch/v1", "CronJob", "bak", "a"), obj("v1", "ConfigMap", "mon", "b"), obj("v1", "ConfigMap", "bak", "c")},
			kinds:      []schema.GroupVersionKind{cj, cm},
			namespaces: []string{"bak", "mon"},
		},
		"a Namespace object counts as its own namespace": {
			objs:       []*unstructured.Unstructured{obj("v1", "Namespace", "", "mon"), obj("v1", "ConfigMap", "mon", "b")},
			kinds:      []schema.GroupVersionKind{ns, cm},
			namespaces: []string{"mon"},
		},
		"cluster-scoped objects add no namespace": {
			objs:  []*unstructured.Unstructured{obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "picluster-operator")},
			kinds: []schema.GroupVersionKind{cr},
		},
		"a Namespace kind of another group is not a namespace": {
			objs:  []*unstructured.Unstructured{obj("example.com/v1", "Namespace", "", "elsewhere")},
			kinds: []schema.GroupVersionKind{{Group: "example.com", Version: "v1", Kind: "Namespace"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kinds, namespaces := Scope(tc.objs)
			assert.Equal(t, tc.kinds, kinds)
			assert.Equal(t, tc.namespaces, namespaces)
		})
	}
}
