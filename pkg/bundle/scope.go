package bundle

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// ValidateComponents refuses a component the bundle does not have (exit 2), naming
// the ones it has.
func ValidateComponents(given []string) error {
	known := Components()
	for _, c := range given {
		if !slices.Contains(known, c) {
			return exitcode.BadUsage(fmt.Errorf("unknown component %q: use one of %s", c, strings.Join(known, ", ")))
		}
	}
	return nil
}

// Selector is the label selector of the installed objects of the given components
// (all when none): what uninstall looks for.
func Selector(components []string) string {
	sel := ManagedByLabel + "=" + ManagedByValue
	if len(components) > 0 {
		sel += "," + ComponentLabel + " in (" + strings.Join(components, ",") + ")"
	}
	return sel
}

// Scope returns where the rendered objects live: their kinds and the namespaces they
// are in or create, each once in first-seen order. Uninstall looks only there, so that
// it never touches another install's objects.
func Scope(objs []*unstructured.Unstructured) ([]schema.GroupVersionKind, []string) {
	seenKind := map[schema.GroupVersionKind]bool{}
	seenNS := map[string]bool{}
	var kinds []schema.GroupVersionKind
	var namespaces []string
	addNS := func(ns string) {
		if ns != "" && !seenNS[ns] {
			seenNS[ns] = true
			namespaces = append(namespaces, ns)
		}
	}
	for _, obj := range objs {
		if gvk := obj.GroupVersionKind(); !seenKind[gvk] {
			seenKind[gvk] = true
			kinds = append(kinds, gvk)
		}
		addNS(obj.GetNamespace())
		if obj.GetKind() == "Namespace" && obj.GetAPIVersion() == "v1" {
			addNS(obj.GetName())
		}
	}
	return kinds, namespaces
}
