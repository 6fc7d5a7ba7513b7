package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func sampleSetup() prometheusSetup {
	immich := func(port string) []scrapeTarget {
		addr := map[string]string{"api-metrics": "10.250.0.5:8081", "worker-metrics": "10.250.0.5:8082"}[port]
		return []scrapeTarget{{Address: addr, Labels: map[string]string{
			"namespace": "immich", "service": "immich-metrics", "endpoint": port, "job": "immich-metrics", "pod": "immich-server-abc"}}}
	}
	return prometheusSetup{
		ScrapeInterval: "2s", EvaluationInterval: "2s",
		ExternalLabels: map[string]string{"prometheus": "monitoring/kube-prometheus-stack-prometheus"},
		Alertmanagers:  []string{"10.250.0.3:9093"},
		Pools: []scrapePool{
			{Name: "serviceMonitor/immich/immich-metrics/1", Path: "/metrics", Interval: "30s", Timeout: "10s", Targets: immich("worker-metrics")},
			{Name: "serviceMonitor/immich/immich-metrics/0", Path: "/metrics", Interval: "30s", Timeout: "10s", Targets: immich("api-metrics")},
			{Name: "serviceMonitor/monitoring/kube-prometheus-stack-kube-state-metrics/0", HonorLabels: true, Targets: []scrapeTarget{
				{Address: "10.250.0.6:8080", Labels: map[string]string{"namespace": "monitoring", "job": "kube-state-metrics"}}}},
			{Name: "serviceMonitor/immich/empty/0"},
		},
	}
}

func TestRenderPrometheusConfig(t *testing.T) {
	text, err := renderPrometheusConfig(sampleSetup())
	require.NoError(t, err)
	var cfg promConfig
	require.NoError(t, yaml.Unmarshal([]byte(text), &cfg))
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	assert.Equal(t, []string{
		"serviceMonitor/immich/empty/0",
		"serviceMonitor/immich/immich-metrics/0",
		"serviceMonitor/immich/immich-metrics/1",
		"serviceMonitor/monitoring/kube-prometheus-stack-kube-state-metrics/0",
	}, jobs, "pools sorted, endpoint indexes in order")
	api := cfg.ScrapeConfigs[1]
	assert.Equal(t, "30s", api.ScrapeInterval)
	assert.Equal(t, []promStaticConfig{{Targets: []string{"10.250.0.5:8081"}, Labels: map[string]string{
		"namespace": "immich", "service": "immich-metrics", "endpoint": "api-metrics", "job": "immich-metrics", "pod": "immich-server-abc"}}}, api.StaticConfigs)
	assert.True(t, cfg.ScrapeConfigs[3].HonorLabels)
	assert.Equal(t, []string{"10.250.0.3:9093"}, cfg.Alerting.Alertmanagers[0].StaticConfigs[0].Targets)

	_, err = renderPrometheusConfig(prometheusSetup{Pools: []scrapePool{{Name: "x", Targets: []scrapeTarget{{Address: "no-port"}}}}})
	require.ErrorContains(t, err, "no-port")
}

// The generated configuration, with the bundle's rules and the chart's Watchdog as
// rule files, is what Prometheus itself accepts.
func TestGeneratedConfigPassesPromtool(t *testing.T) {
	promtool := proc.RequireBinary(t, "promtool")
	dir := t.TempDir()
	groups, err := bundle.RuleGroups(settings.Default())
	require.NoError(t, err)
	chart, err := decodeObjects(chartObjectsYAML, map[string]string{"release": "kps", "ns": "monitoring", "ksmIP": "10.250.0.6", "podIPAnnotation": testbed.PodIPAnnotation})
	require.NoError(t, err)
	var files []string
	write := func(name string, groups []any) {
		content, err := renderRuleFile(groups)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		files = append(files, path)
	}
	for name, text := range groups {
		var spec struct {
			Groups []any `json:"groups"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(text), &spec))
		write(ruleFileName("ns", name, "uid-1"), spec.Groups)
	}
	for _, o := range chart {
		if o.GetKind() == "PrometheusRule" {
			g, _ := o.Object["spec"].(map[string]any)["groups"].([]any)
			write(ruleFileName(o.GetNamespace(), o.GetName(), "uid-2"), g)
		}
	}
	sort.Strings(files)
	text, err := renderPrometheusConfig(sampleSetup())
	require.NoError(t, err)
	text += "rule_files:\n- " + strings.Join(files, "\n- ") + "\n"
	config := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(config, []byte(text), 0o644))
	out, err := exec.Command(promtool, "check", "config", config).CombinedOutput()
	require.NoError(t, err, "promtool check config:\n%s\n%s", out, text)
	assert.Contains(t, string(out), "SUCCESS")
}

func TestChartObjects(t *testing.T) {
	objs, err := decodeObjects(chartObjectsYAML, map[string]string{"release": "kube-prometheus-stack", "ns": "monitoring", "ksmIP": "10.250.0.6", "podIPAnnotation": testbed.PodIPAnnotation})
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		_, known := resources[o.GetKind()]
		assert.True(t, known, "kind %s can be applied", o.GetKind())
		names = append(names, o.GetKind()+" "+ref(o))
		assert.NotContains(t, strings.Join(append(keys(o.GetLabels()), values(o.GetLabels())...), " "), "{{", "placeholders replaced")
	}
	assert.Contains(t, names, "PrometheusRule monitoring/kube-prometheus-stack-general.rules")
	assert.Contains(t, names, "ServiceMonitor monitoring/kube-prometheus-stack-kube-state-metrics")
	// The bed's own Services for Prometheus and Alertmanager carry the labels the
	// chart's ServiceMonitors select.
	for _, o := range objs {
		if o.GetKind() == "ServiceMonitor" && strings.HasSuffix(o.GetName(), "-prometheus") {
			sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
			assert.Equal(t, map[string]string{"app": "kube-prometheus-stack-prometheus", "release": "kube-prometheus-stack"}, sel)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestPoolLess(t *testing.T) {
	names := []string{"serviceMonitor/a/b/10", "serviceMonitor/a/b/2", "serviceMonitor/a/a/0", "x"}
	sort.Slice(names, func(i, j int) bool { return poolLess(names[i], names[j]) })
	assert.Equal(t, []string{"serviceMonitor/a/a/0", "serviceMonitor/a/b/2", "serviceMonitor/a/b/10", "x"}, names)
}
