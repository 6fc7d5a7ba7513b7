package chartrender

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the chart is rendered for: the one the project
// builds against (k8s.io/client-go v0.37). helm-controller asks the cluster; Helm's
// own default in a test binary (v1.20) is older than the chart accepts.
const KubeVersion = "v1.37.2"

// Chart is a chart archive (or directory) to render.
type Chart struct {
	path  string
	chart *chartv2.Chart // for reading values.yaml; each Render loads its own copy
}

// Load reads a chart archive (or directory) as Helm does.
func Load(path string) (*Chart, error) {
	ch, err := load(path)
	if err != nil {
		return nil, err
	}
	return &Chart{path: path, chart: ch}, nil
}

func load(path string) (*chartv2.Chart, error) {
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	v2, ok := c.(*chartv2.Chart)
	if !ok {
		return nil, fmt.Errorf("load chart %s: not a v2 chart (%T)", path, c)
	}
	return v2, nil
}

// Rendered is what Helm would apply for one release: the chart's objects (CRDs aside:
// helm-controller applies those first, by its crds policy).
type Rendered struct {
	Manifest string
	Objects  []*unstructured.Unstructured
}

// Render renders the chart for a release with the given (user-supplied) values, as
// `helm template` and helm-controller's install do, by the same steps as Helm's
// action.Install in client-only dry-run mode (helm.sh/helm/v4 pkg/action/install.go,
// RunWithContext, and renderResources in action.go): the dependencies' conditions, the
// chart's defaults coalesced with the values and checked against its schema, the
// templates rendered by Helm's engine, NOTES.txt dropped and hooks set apart. The
// action package itself is not used: it drags a registry client, SQL drivers and a wasm
// runtime into every test binary, none of which a render touches.
func (c *Chart) Render(ctx context.Context, release, namespace string, values map[string]any) (*Rendered, error) {
	// Helm writes into the chart it renders (disabled dependencies dropped, imported
	// values): each render loads its own.
	ch, err := load(c.path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Rendered, error) {
		return nil, fmt.Errorf("render chart %s for release %s/%s: %w", ch.Name(), namespace, release, err)
	}
	vals := copyValues(values)
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return fail(err)
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return fail(err)
	}
	caps.KubeVersion = *kv
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return fail(fmt.Errorf("chart requires kubeVersion %s, not %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version))
	}
	opts := common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	renderValues, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return fail(err)
	}
	files, err := engine.Engine{}.RenderWithContext(ctx, ch, renderValues)
	if err != nil {
		return fail(err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return fail(err)
	}
	var b strings.Builder
	out := &Rendered{}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(m.Content), &obj); err != nil {
			return fail(fmt.Errorf("decode %s: %w", m.Name, err))
		}
		if len(obj) > 0 {
			out.Objects = append(out.Objects, &unstructured.Unstructured{Object: obj})
		}
	}
	out.Manifest = b.String()
	return out, nil
}

// copyValues deep-copies values through YAML, so that Helm's coalescing never writes
// into the caller's map.
func copyValues(v map[string]any) map[string]any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// Find returns the rendered object of that kind and name, or nil.
func (r *Rendered) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// OfKind returns the rendered objects of a kind.
func (r *Rendered) OfKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// AlertmanagerConfig returns the alertmanager.yaml of the Secret that
// prometheus-operator mounts into the Alertmanager the chart defines (the Secret named
// by the Alertmanager object's spec.configSecret, else alertmanager-NAME).
func (r *Rendered) AlertmanagerConfig() (string, error) {
	ams := r.OfKind("Alertmanager")
	if len(ams) != 1 {
		return "", fmt.Errorf("the chart rendered %d Alertmanager objects, want 1", len(ams))
	}
	name, _, _ := unstructured.NestedString(ams[0].Object, "spec", "configSecret")
	if name == "" {
		name = "alertmanager-" + ams[0].GetName()
	}
	sec := r.Find("Secret", name)
	if sec == nil {
		return "", fmt.Errorf("the chart rendered no Secret %s for Alertmanager %s", name, ams[0].GetName())
	}
	if s, ok, _ := unstructured.NestedString(sec.Object, "stringData", "alertmanager.yaml"); ok {
		return s, nil
	}
	enc, ok, _ := unstructured.NestedString(sec.Object, "data", "alertmanager.yaml")
	if !ok {
		return "", fmt.Errorf("Secret %s has no alertmanager.yaml", name)
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("Secret %s alertmanager.yaml: %w", name, err)
	}
	return string(b), nil
}

// Prometheus returns the one Prometheus object the chart rendered.
func (r *Rendered) Prometheus() (*unstructured.Unstructured, error) {
	ps := r.OfKind("Prometheus")
	if len(ps) != 1 {
		return nil, fmt.Errorf("the chart rendered %d Prometheus objects, want 1", len(ps))
	}
	return ps[0], nil
}

// UnknownKeys walks every key path of values (what a HelmRelease gives the chart)
// against the chart's values.yaml and, under a dependency's name, the subchart's:
// it returns the paths the chart does not know, which Helm would silently ignore.
// freeForm names paths (a.b.c) whose content the chart takes as it is
// (alertmanager.config, resources): they are not walked.
func (c *Chart) UnknownKeys(values map[string]any, freeForm ...string) []string {
	skip := map[string]bool{}
	for _, p := range freeForm {
		skip[p] = true
	}
	var unknown []string
	walkChart(c.chart, values, nil, "", skip, &unknown)
	sort.Strings(unknown)
	return unknown
}

// walkChart checks values against a chart: its own values.yaml, the values its
// parent sets for it (parent), and its dependencies by name or alias.
func walkChart(ch *chartv2.Chart, values, parent map[string]any, prefix string, skip map[string]bool, unknown *[]string) {
	subs := map[string]*chartv2.Chart{}
	for _, d := range ch.Dependencies() {
		subs[d.Name()] = d
	}
	if ch.Metadata != nil {
		for _, d := range ch.Metadata.Dependencies {
			if d.Alias != "" {
				for _, sc := range ch.Dependencies() {
					if sc.Name() == d.Name {
						subs[d.Alias] = sc
					}
				}
			}
		}
	}
	for k, v := range values {
		p := join(prefix, k)
		if skip[p] || k == "global" {
			continue
		}
		if sc, ok := subs[k]; ok {
			vm, isMap := v.(map[string]any)
			if !isMap {
				*unknown = append(*unknown, p+" (a subchart's values must be a map)")
				continue
			}
			own, _ := ch.Values[k].(map[string]any)
			walkChart(sc, vm, own, p, skip, unknown)
			continue
		}
		known, ok := ch.Values[k]
		if !ok {
			known, ok = parent[k]
		}
		if !ok {
			*unknown = append(*unknown, p)
			continue
		}
		walkValues(v, known, p, skip, unknown)
	}
}

// walkValues checks one value against the chart's default for the same path.
func walkValues(v, known any, p string, skip map[string]bool, unknown *[]string) {
	vm, isMap := v.(map[string]any)
	if !isMap {
		return
	}
	km, _ := known.(map[string]any)
	for k, sub := range vm {
		sp := join(p, k)
		if skip[sp] {
			continue
		}
		kv, ok := km[k]
		if !ok {
			*unknown = append(*unknown, sp)
			continue
		}
		walkValues(sub, kv, sp, skip, unknown)
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
