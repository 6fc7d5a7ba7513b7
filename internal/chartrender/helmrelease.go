package chartrender

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReleaseName is the Helm release name helm-controller gives a HelmRelease:
// spec.releaseName, else TARGETNAMESPACE-NAME when spec.targetNamespace is set, else
// its name. (helm-controller shortens names past 53 characters; such a name is refused
// here instead.)
func ReleaseName(hr *unstructured.Unstructured) (string, error) {
	name, _, _ := unstructured.NestedString(hr.Object, "spec", "releaseName")
	if name == "" {
		name = hr.GetName()
		if ns, _, _ := unstructured.NestedString(hr.Object, "spec", "targetNamespace"); ns != "" {
			name = ns + "-" + name
		}
	}
	if len(name) > 53 {
		return "", fmt.Errorf("HelmRelease %s/%s: release name %q is longer than 53 characters", hr.GetNamespace(), hr.GetName(), name)
	}
	return name, nil
}

// ReleaseNamespace is where helm-controller installs a HelmRelease: spec.targetNamespace,
// else the HelmRelease's own namespace.
func ReleaseNamespace(hr *unstructured.Unstructured) string {
	if ns, _, _ := unstructured.NestedString(hr.Object, "spec", "targetNamespace"); ns != "" {
		return ns
	}
	return hr.GetNamespace()
}

// RenderHelmRelease merges a HelmRelease's values as helm-controller does (sources read
// through c) and renders the chart with them. It returns the rendering and the merged
// values (what the release is given, before the chart's defaults).
func (c *Chart) RenderHelmRelease(ctx context.Context, cl client.Client, hr *unstructured.Unstructured) (*Rendered, map[string]any, error) {
	values, err := Values(ctx, cl, hr)
	if err != nil {
		return nil, nil, err
	}
	name, err := ReleaseName(hr)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.Render(ctx, name, ReleaseNamespace(hr), values)
	if err != nil {
		return nil, values, err
	}
	return r, values, nil
}
