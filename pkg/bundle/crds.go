package bundle

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// CRD is a CustomResourceDefinition the bundle needs, and how an operator gets it.
type CRD struct {
	// Name is the CRD's name, e.g. servicemonitors.monitoring.coreos.com.
	Name string
	// Group and Kind of the custom resource.
	Group, Kind string
	// HowToGet tells the operator what to install to have it.
	HowToGet string
}

const (
	howFlux   = "install Flux (flux install, or flux bootstrap): https://fluxcd.io/flux/installation/"
	howESO    = "install External Secrets Operator (helm chart external-secrets/external-secrets) and its 1Password secret store"
	howPromOp = "install prometheus-operator (kube-prometheus-stack): `kubectl picluster install --component monitoring`, then wait for the HelmRelease to be Ready"
)

// knownCRDs maps every custom kind the bundle renders to its CRD. A test renders
// the bundle and fails on a custom kind missing here.
var knownCRDs = map[schema.GroupKind]CRD{
	{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}:      {Name: "helmreleases.helm.toolkit.fluxcd.io", HowToGet: howFlux},
	{Group: "source.toolkit.fluxcd.io", Kind: "HelmRepository"}: {Name: "helmrepositories.source.toolkit.fluxcd.io", HowToGet: howFlux},
	{Group: "external-secrets.io", Kind: "ExternalSecret"}:      {Name: "externalsecrets.external-secrets.io", HowToGet: howESO},
	{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}:    {Name: "servicemonitors.monitoring.coreos.com", HowToGet: howPromOp},
	{Group: "monitoring.coreos.com", Kind: "PrometheusRule"}:    {Name: "prometheusrules.monitoring.coreos.com", HowToGet: howPromOp},
}

// builtinGroups are served by every API server; their kinds need no CRD.
var builtinGroups = map[string]bool{"": true, "apps": true, "batch": true, "rbac.authorization.k8s.io": true}

// RequiredCRDs returns the CRDs the named components (none: all) need, sorted by
// name. It looks at what the default settings render, optional components included:
// settings change names, never kinds. An unknown component needs nothing (Render
// reports it).
func RequiredCRDs(components ...string) []CRD {
	objs, err := RenderForRemoval(settings.Default(), components...)
	if err != nil {
		return nil
	}
	seen := map[string]CRD{}
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		if builtinGroups[gk.Group] {
			continue
		}
		crd, ok := knownCRDs[gk]
		if !ok {
			// a custom kind without an entry is a bundle bug, caught by the tests
			crd = CRD{Name: gk.String(), HowToGet: "unknown: add " + gk.String() + " to pkg/bundle/crds.go"}
		}
		crd.Group, crd.Kind = gk.Group, gk.Kind
		seen[crd.Name] = crd
	}
	out := make([]CRD, 0, len(seen))
	for _, c := range seen {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
