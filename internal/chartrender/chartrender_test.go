package chartrender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/charts"
)

func helmRelease(t *testing.T, spec string) *unstructured.Unstructured {
	t.Helper()
	hr := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: kps, namespace: mon}
spec:
`+spec), &hr.Object))
	return hr
}

// The glue around Flux's merge: valuesFrom in order, a targetPath written into the
// values merged so far, then the inline values merged once more at the end (so an
// inline list replaces a list a targetPath wrote into), a missing optional source
// skipped, a missing required one an error in Flux's words.
func TestValuesMergesAsHelmController(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "base", Namespace: "mon"},
		Data: map[string]string{"values.yaml": "a: {list: [1, 2], keep: x}\nb: from-configmap\n"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "url", Namespace: "mon"},
		Data: map[string][]byte{"u": []byte("https://example.test/hook")}}
	hr := helmRelease(t, `
  valuesFrom:
  - {kind: ConfigMap, name: base}
  - {kind: Secret, name: url, valuesKey: u, targetPath: "a.list[1]"}
  - {kind: Secret, name: url, valuesKey: u, targetPath: "c.l[1].url"}
  - {kind: ConfigMap, name: absent, optional: true}
  values:
    a: {list: [9]}
    b: inline
`)
	got, err := Values(context.Background(), ObjectClient(cm, sec), hr)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"a": map[string]any{"list": []any{float64(9)}, "keep": "x"},
		"b": "inline",
		"c": map[string]any{"l": []any{nil, map[string]any{"url": "https://example.test/hook"}}},
	}, normalize(t, got))

	hr = helmRelease(t, `
  valuesFrom:
  - {kind: ConfigMap, name: absent}
`)
	_, err = Values(context.Background(), ObjectClient(), hr)
	require.ErrorContains(t, err, "could not resolve ConfigMap chart values reference 'mon/absent'")
}

// normalize round-trips through JSON so numbers compare alike.
func normalize(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(b)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, yaml.Unmarshal(j, &out))
	return out
}

func TestReleaseName(t *testing.T) {
	tests := map[string]struct{ spec, want string }{
		"name":             {spec: "{}", want: "kps"},
		"releaseName":      {spec: "{releaseName: other}", want: "other"},
		"target namespace": {spec: "{targetNamespace: tn}", want: "tn-kps"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReleaseName(helmRelease(t, "  "+tc.spec))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// The key walk on the real chart: a subchart's condition written under the subchart's
// name is unknown (the chart's key is kubeStateMetrics.enabled), subchart keys and
// free-form maps are accepted.
func TestUnknownKeys(t *testing.T) {
	ch, err := Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	var values map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(`
kubeStateMetrics: {enabled: true}
kube-state-metrics: {enabled: true, releaseLabel: true}
grafana: {sidecar: {dashboards: {enabled: true, label: grafana_dashboard}}}
alertmanager: {enabled: true, config: {anything: [goes]}, alertmanagerSpec: {retention: 1h, nosuch: 1}}
global: {whatever: 1}
`), &values))
	assert.Equal(t, []string{"alertmanager.alertmanagerSpec.nosuch", "kube-state-metrics.enabled"}, ch.UnknownKeys(values, "alertmanager.config"))
}

// One render of the whole chart with its defaults; the time is logged (see also
// BenchmarkRender).
func TestRenderDefaults(t *testing.T) {
	ch, err := Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	start := time.Now()
	r, err := ch.Render(context.Background(), "kps", "mon", nil)
	require.NoError(t, err)
	t.Logf("one render of %s: %s, %d objects", charts.KubePrometheusStack.File, time.Since(start).Round(time.Millisecond), len(r.Objects))
	cfg, err := r.AlertmanagerConfig()
	require.NoError(t, err)
	assert.Contains(t, cfg, "InfoInhibitor")
	p, err := r.Prometheus()
	require.NoError(t, err)
	assert.Equal(t, "mon", p.GetNamespace())
}

func BenchmarkRender(b *testing.B) {
	ch, err := Load(charts.Locate(b, charts.KubePrometheusStack))
	require.NoError(b, err)
	for b.Loop() {
		_, err := ch.Render(context.Background(), "kps", "mon", nil)
		require.NoError(b, err)
	}
}
