// Package chartrender renders a Flux HelmRelease the way a cluster would: the values
// merged by Flux's own library (github.com/fluxcd/pkg/chartutil, what helm-controller
// calls) and the chart rendered by Helm's Go SDK. It is test and demo code: the plugin
// never links it (TestPluginLinksNoHelmOrFlux).
package chartrender

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/chartutil"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// helmReleaseSpec is the part of a HelmRelease (helm.toolkit.fluxcd.io/v2) spec that
// decides its values, with helm-controller's own field types.
type helmReleaseSpec struct {
	ValuesFrom []meta.ValuesReference `json:"valuesFrom,omitempty"`
	Values     json.RawMessage        `json:"values,omitempty"`
}

// Values merges a HelmRelease's valuesFrom (read through c, in the HelmRelease's
// namespace) and spec.values exactly as helm-controller does, by calling the same
// function of Flux's chartutil. Errors are Flux's own (chartutil.ErrValuesReference).
func Values(ctx context.Context, c client.Client, hr *unstructured.Unstructured) (map[string]any, error) {
	raw, _, err := unstructured.NestedFieldNoCopy(hr.Object, "spec")
	if err != nil {
		return nil, fmt.Errorf("read HelmRelease %s/%s: %w", hr.GetNamespace(), hr.GetName(), err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("read HelmRelease %s/%s: %w", hr.GetNamespace(), hr.GetName(), err)
	}
	var spec helmReleaseSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("read HelmRelease %s/%s spec: %w", hr.GetNamespace(), hr.GetName(), err)
	}
	// As helm-controller's HelmRelease.GetValues: spec.values decoded as JSON.
	var values map[string]any
	if len(spec.Values) > 0 {
		if err := json.Unmarshal(spec.Values, &values); err != nil {
			return nil, fmt.Errorf("read HelmRelease %s/%s spec.values: %w", hr.GetNamespace(), hr.GetName(), err)
		}
	}
	merged, err := chartutil.ChartValuesFromReferences(ctx, logr.Discard(), c, hr.GetNamespace(), values, spec.ValuesFrom...)
	if err != nil {
		return nil, fmt.Errorf("merge the values of HelmRelease %s/%s: %w", hr.GetNamespace(), hr.GetName(), err)
	}
	return merged, nil
}

// ObjectClient is a client that holds only objs (typed ConfigMaps and Secrets, say):
// what Values reads when the values sources are test data, not a cluster.
func ObjectClient(objs ...runtime.Object) client.Client {
	return fake.NewClientBuilder().WithRuntimeObjects(objs...).Build()
}
