package apply

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CRD is a CustomResourceDefinition the objects need and the installer does not ship.
type CRD struct {
	// Name is the CRD's name, e.g. helmreleases.helm.toolkit.fluxcd.io.
	Name string
	// Group and Kind are what the CRD serves.
	Group, Kind string
	// HowToGet tells the operator how to install it (e.g. "install Flux: flux install").
	HowToGet string
}

// Missing is one kind the cluster does not serve.
type Missing struct {
	// CRD names the definition when known, else it holds only Group and Kind.
	CRD CRD
	// Version is the API version the objects use.
	Version string
	// Served lists the versions the cluster does serve for the kind, when any.
	Served []string
}

func (m Missing) String() string {
	name := m.CRD.Name
	if name == "" {
		name = m.CRD.Kind + "." + m.CRD.Group
	}
	gv := m.CRD.Group
	if m.Version != "" {
		gv = schema.GroupVersion{Group: m.CRD.Group, Version: m.Version}.String()
	}
	s := fmt.Sprintf("%s (%s %s)", name, m.CRD.Kind, gv)
	if len(m.Served) > 0 {
		s += fmt.Sprintf(": the cluster serves only %s", strings.Join(m.Served, ", "))
	} else {
		s += ": not installed"
	}
	if m.CRD.HowToGet != "" {
		s += "; " + m.CRD.HowToGet
	}
	return s
}

// MissingError says which kinds the cluster lacks; nothing was applied.
type MissingError struct {
	Missing []Missing
	// Namespaces lists namespaces the objects go to that neither exist nor are part of the objects.
	Namespaces []string
}

func (e *MissingError) Error() string {
	var lines []string
	if len(e.Missing) > 0 {
		lines = append(lines, fmt.Sprintf("the cluster lacks %d CRD(s) the bundle needs; nothing was applied:", len(e.Missing)))
		for _, m := range e.Missing {
			lines = append(lines, "  - "+m.String())
		}
	}
	switch len(e.Namespaces) {
	case 0:
	case 1:
		lines = append(lines, fmt.Sprintf("namespace %s does not exist and the bundle does not create it; nothing was applied", e.Namespaces[0]))
	default:
		lines = append(lines, fmt.Sprintf("namespaces %s do not exist and the bundle does not create them; nothing was applied",
			strings.Join(e.Namespaces, ", ")))
	}
	return strings.Join(lines, "\n")
}

// isCRD tells whether obj is a CustomResourceDefinition.
func isCRD(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition"
}

// isNamespace tells whether obj is a Namespace.
func isNamespace(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Namespace"
}

// definedKinds returns the group/kinds that CRDs among objs define.
func definedKinds(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if !isCRD(o) {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		out[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	return out
}

// CheckKinds reports every kind the objects use that the cluster does not serve in the
// version they use as a *MissingError, naming the required CRD and how to get it when it is
// among required. Kinds defined by CRDs among objs count as present. Any other error (the
// cluster cannot be asked) is returned as is; nil means nothing is missing.
func CheckKinds(mapper meta.RESTMapper, objs []*unstructured.Unstructured, required []CRD) error {
	defined := definedKinds(objs)
	byGK := map[schema.GroupKind]CRD{}
	for _, c := range required {
		byGK[schema.GroupKind{Group: c.Group, Kind: c.Kind}] = c
	}
	// The versions each kind is used in, so that an old Flux serving only v2beta1 is caught.
	used := map[schema.GroupKind]map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		gk := gvk.GroupKind()
		if used[gk] == nil {
			used[gk] = map[string]bool{}
		}
		used[gk][gvk.Version] = true
	}
	// A required CRD no object uses yet is still required (the bundle may need it at run time).
	for gk := range byGK {
		if used[gk] == nil {
			used[gk] = map[string]bool{"": true}
		}
	}
	var missing []Missing
	for gk, versions := range used {
		if defined[gk] {
			continue
		}
		for v := range versions {
			_, err := mapper.RESTMapping(gk, versionsOrNone(v)...)
			if err == nil {
				continue
			}
			if !meta.IsNoMatchError(err) {
				return fmt.Errorf("discover the kinds the cluster serves: %w", err)
			}
			m := Missing{CRD: byGK[gk], Version: v}
			if m.CRD.Kind == "" {
				m.CRD = CRD{Group: gk.Group, Kind: gk.Kind}
			}
			if ms, err := mapper.RESTMappings(gk); err == nil {
				for _, rm := range ms {
					m.Served = append(m.Served, rm.GroupVersionKind.Version)
				}
				sort.Strings(m.Served)
			}
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].String() < missing[j].String() })
	return &MissingError{Missing: missing}
}

func versionsOrNone(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}
