package chartrender

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// selectorFields are the Prometheus spec fields that pick the objects of a kind.
var selectorFields = map[string][2]string{
	"ServiceMonitor": {"serviceMonitorSelector", "serviceMonitorNamespaceSelector"},
	"PodMonitor":     {"podMonitorSelector", "podMonitorNamespaceSelector"},
	"PrometheusRule": {"ruleSelector", "ruleNamespaceSelector"},
}

// Selects tells whether a Prometheus object (monitoring.coreos.com/v1) makes
// prometheus-operator pick obj, whose namespace carries nsLabels. The operator's API
// reference: for the object selector "an empty label selector matches all objects; a
// null label selector matches no objects"; for the namespace selector "an empty label
// selector matches all namespaces; a null label selector (default value) matches the
// current namespace only".
func Selects(prom, obj *unstructured.Unstructured, nsLabels map[string]string) (bool, error) {
	fields, ok := selectorFields[obj.GetKind()]
	if !ok {
		return false, fmt.Errorf("Prometheus selects no %s", obj.GetKind())
	}
	sel, err := selector(prom, fields[0])
	if err != nil || sel == nil {
		return false, err
	}
	if !sel.Matches(labels.Set(obj.GetLabels())) {
		return false, nil
	}
	nsSel, err := selector(prom, fields[1])
	if err != nil {
		return false, err
	}
	if nsSel == nil {
		return obj.GetNamespace() == prom.GetNamespace(), nil
	}
	return nsSel.Matches(labels.Set(nsLabels)), nil
}

// selector reads spec.FIELD as a label selector; nil when the field is absent or null.
func selector(prom *unstructured.Unstructured, field string) (labels.Selector, error) {
	raw, found, err := unstructured.NestedFieldNoCopy(prom.Object, "spec", field)
	if err != nil {
		return nil, fmt.Errorf("Prometheus %s spec.%s: %w", prom.GetName(), field, err)
	}
	if !found || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Prometheus %s spec.%s is not a label selector", prom.GetName(), field)
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, fmt.Errorf("Prometheus %s spec.%s: %w", prom.GetName(), field, err)
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("Prometheus %s spec.%s: %w", prom.GetName(), field, err)
	}
	return s, nil
}

// NamespaceLabels are the labels a namespace has in a cluster: its own plus the
// kubernetes.io/metadata.name label the API server sets on every namespace.
func NamespaceLabels(name string, own map[string]string) map[string]string {
	out := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range own {
		out[k] = v
	}
	return out
}
