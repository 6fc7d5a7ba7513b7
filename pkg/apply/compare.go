package apply

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// fluxLabelPrefixes mark objects that a Flux Kustomization or HelmRelease manages: Flux
// would revert whatever the plugin applies, so taking them over needs --force-conflicts.
var fluxLabelPrefixes = []string{"kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/"}

// FluxOwner returns who in Flux manages obj, e.g. "Kustomization flux-system/apps", or ""
// when no Flux label is present.
func FluxOwner(obj *unstructured.Unstructured) string {
	labels := obj.GetLabels()
	for _, kind := range []struct{ prefix, kind string }{
		{"kustomize.toolkit.fluxcd.io/", "Kustomization"},
		{"helm.toolkit.fluxcd.io/", "HelmRelease"},
	} {
		name, ns := labels[kind.prefix+"name"], labels[kind.prefix+"namespace"]
		if name != "" {
			if ns != "" {
				name = ns + "/" + name
			}
			return kind.kind + " " + name
		}
	}
	var keys []string
	for k := range labels {
		for _, p := range fluxLabelPrefixes {
			if strings.HasPrefix(k, p) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return "Flux (labels " + strings.Join(keys, ", ") + ")"
}

// sameExceptVersion tells whether a dry-run result equals the live object, ignoring the
// resourceVersion: a server-side dry run that would change nothing returns the live object.
func sameExceptVersion(live, result *unstructured.Unstructured) bool {
	a, b := live.DeepCopy(), result.DeepCopy()
	for _, u := range []*unstructured.Unstructured{a, b} {
		unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	}
	return equality.Semantic.DeepEqual(a.Object, b.Object)
}

// isSubset tells whether every field of desired is present in live with the same value:
// the client-side dry run's guess at "unchanged". Lists must match element by element.
// It cannot see server-side normalisation (e.g. a quantity "0.5" stored as "500m"), so it
// may say "configured" where a real apply changes nothing; a server dry run is exact.
func isSubset(desired, live any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, dv := range d {
			lv, ok := l[k]
			if !ok {
				if dv == nil {
					continue
				}
				return false
			}
			if !isSubset(dv, lv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(d) {
			return false
		}
		for i := range d {
			if !isSubset(d[i], l[i]) {
				return false
			}
		}
		return true
	case int64, int, int32, float64, float32:
		return numberString(d) == numberString(live)
	default:
		return equality.Semantic.DeepEqual(desired, live)
	}
}

// numberString renders JSON numbers alike whether decoded as int64 or float64.
func numberString(v any) string {
	switch n := v.(type) {
	case int64:
		return fmt.Sprintf("%d", n)
	case int:
		return fmt.Sprintf("%d", n)
	case int32:
		return fmt.Sprintf("%d", n)
	case float64:
		if n == float64(int64(n)) {
			return fmt.Sprintf("%d", int64(n))
		}
		return fmt.Sprintf("%g", n)
	case float32:
		return numberString(float64(n))
	}
	return fmt.Sprintf("%v", v)
}
