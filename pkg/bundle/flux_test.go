package bundle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Flux's helm-controller reconciles at once on a change of a valuesFrom ConfigMap or
// Secret only when it carries this label (fluxcd/helm-controller: watch for values
// sources labelled reconcile.fluxcd.io/watch=Enabled); otherwise a rotated webhook
// waits for the HelmRelease's interval.
const fluxWatchLabel, fluxWatchValue = "reconcile.fluxcd.io/watch", "Enabled"

// Every values source of the HelmRelease carries the watch label: a ConfigMap of the
// bundle directly, the Secret ESO writes through its target template.
func TestValuesSourcesAreWatchedByFlux(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, Monitoring)
	require.NoError(t, err)
	hr := find(t, objs, "HelmRelease", s.Monitoring.HelmRelease)
	refs, _, _ := unstructured.NestedSlice(hr.Object, "spec", "valuesFrom")
	require.NotEmpty(t, refs)
	for _, r := range refs {
		ref := r.(map[string]any)
		kind, name := ref["kind"].(string), ref["name"].(string)
		var labels map[string]string
		switch kind {
		case "ConfigMap":
			labels = find(t, objs, "ConfigMap", name).GetLabels()
		case "Secret":
			es := externalSecretWriting(t, objs, name)
			labels, _, _ = unstructured.NestedStringMap(es.Object, "spec", "target", "template", "metadata", "labels")
		default:
			require.Failf(t, "unknown values source", "%s %s", kind, name)
		}
		assert.Equal(t, fluxWatchValue, labels[fluxWatchLabel], "%s %s: labelled for Flux to watch", kind, name)
	}
}

// externalSecretWriting finds the ExternalSecret whose target is the Secret name.
func externalSecretWriting(t *testing.T, objs []*unstructured.Unstructured, secret string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ExternalSecret" {
			continue
		}
		target, _, _ := unstructured.NestedString(o.Object, "spec", "target", "name")
		if target == "" {
			target = o.GetName()
		}
		if target == secret {
			return o
		}
	}
	require.FailNow(t, "no ExternalSecret writes Secret "+secret)
	return nil
}
