package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// throwawayWebhook is the value the tests put into the webhook Secret: ESO's work.
const throwawayWebhook = "https://discord.com/api/webhooks/4242/throwaway-token"

// chartFreeForm are the values paths whose content the chart takes as it is, not
// keys of its values.yaml: Alertmanager's config and Kubernetes resource requirements.
var chartFreeForm = []string{
	"alertmanager.config",
	"alertmanager.alertmanagerSpec.resources",
	"prometheus.prometheusSpec.resources",
}

// chartRender is the bundle as the cluster gets it: the HelmRelease's values merged by
// Flux's chartutil from the bundle's ConfigMap and the Secret ESO writes (here with
// webhook), then kube-prometheus-stack rendered by Helm's SDK.
type chartRender struct {
	objs     []*unstructured.Unstructured // the whole bundle
	hr       *unstructured.Unstructured
	values   map[string]any // what the HelmRelease gives the chart
	rendered *chartrender.Rendered
	chart    *chartrender.Chart
}

func renderChart(t *testing.T, s *settings.Settings, webhook string) *chartRender {
	t.Helper()
	ch, err := chartrender.Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	objs, err := Render(s)
	require.NoError(t, err)
	return renderObjects(t, ch, objs, s, webhook)
}

// renderObjects renders the chart for the HelmRelease among objs, reading its values
// sources from objs (ConfigMaps) and from the Secret ESO makes, holding webhook.
func renderObjects(t *testing.T, ch *chartrender.Chart, objs []*unstructured.Unstructured, s *settings.Settings, webhook string) *chartRender {
	t.Helper()
	var sources []runtime.Object
	var hr *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "HelmRelease":
			hr = o
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm))
			sources = append(sources, cm)
		}
	}
	require.NotNil(t, hr, "the bundle has a HelmRelease")
	sources = append(sources, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Monitoring.DiscordSecret.Name, Namespace: s.Namespaces.Monitoring},
		Data:       map[string][]byte{s.Monitoring.DiscordSecret.Key: []byte(webhook)},
	})
	start := time.Now()
	r, values, err := ch.RenderHelmRelease(context.Background(), chartrender.ObjectClient(sources...), hr)
	require.NoError(t, err)
	t.Logf("merge and render of %s: %s", charts.KubePrometheusStack.File, time.Since(start).Round(time.Millisecond))
	return &chartRender{objs: objs, hr: hr, values: values, rendered: r, chart: ch}
}

// The chart pinned by the HelmRelease is the one the tests render.
func TestChartIsTheOneThePinnedVersionNames(t *testing.T) {
	assert.Equal(t, settings.Default().Monitoring.ChartVersion, charts.KubePrometheusStack.Version)
}

// What Alertmanager really runs: the config Secret the chart renders from the merged
// values holds the Discord receiver with the Secret's URL, send_resolved, the
// Watchdog → null route, and the chart's inhibitions as well as ours.
func TestChartAlertmanagerConfig(t *testing.T) {
	s := settings.Default()
	cr := renderChart(t, s, throwawayWebhook)
	text, err := cr.rendered.AlertmanagerConfig()
	require.NoError(t, err)
	got := parseAlertmanagerConfig(t, text)

	var discord []map[string]any
	for _, r := range got.Receivers {
		if r.Name == s.Monitoring.Receiver {
			discord = r.Discord
		}
	}
	require.Len(t, discord, 1, "receiver %s has one Discord config", s.Monitoring.Receiver)
	assert.Equal(t, throwawayWebhook, discord[0]["webhook_url"], "the URL from the Secret")
	assert.Equal(t, true, discord[0]["send_resolved"])

	assert.Equal(t, s.Monitoring.Receiver, got.Route.Receiver)
	watchdog := false
	for _, r := range got.Route.Routes {
		for _, m := range r.Matchers {
			if matcher(t, m) == `alertname="Watchdog"` && r.Receiver == "null" {
				watchdog = true
			}
		}
	}
	assert.True(t, watchdog, "Watchdog is routed to null")

	// Helm replaces lists: ours must carry the chart's inhibitions (InfoInhibitor).
	defaults := parseAlertmanagerConfig(t, chartDefaultAlertmanagerConfig(t, cr.chart))
	have := map[string]bool{}
	for _, r := range got.InhibitRules {
		have[inhibitKey(t, r)] = true
	}
	require.NotEmpty(t, defaults.InhibitRules)
	for _, r := range defaults.InhibitRules {
		assert.True(t, have[inhibitKey(t, r)], "the chart's inhibition %s is kept", inhibitKey(t, r))
	}
}

// amConfig is the part of alertmanager.yaml the tests read (amtool checks the rest).
type amConfig struct {
	Route struct {
		Receiver string `json:"receiver"`
		Routes   []struct {
			Receiver string   `json:"receiver"`
			Matchers []string `json:"matchers"`
		} `json:"routes"`
	} `json:"route"`
	InhibitRules []inhibitRule `json:"inhibit_rules"`
	Receivers    []struct {
		Name    string           `json:"name"`
		Discord []map[string]any `json:"discord_configs"`
	} `json:"receivers"`
}

type inhibitRule struct {
	SourceMatchers []string `json:"source_matchers"`
	TargetMatchers []string `json:"target_matchers"`
	Equal          []string `json:"equal"`
}

func parseAlertmanagerConfig(t *testing.T, text string) amConfig {
	t.Helper()
	var c amConfig
	require.NoError(t, yaml.Unmarshal([]byte(text), &c))
	return c
}

// matcher normalises a matcher with Alertmanager's own parser, so that
// `severity = critical` and `severity = "critical"` compare equal.
func matcher(t *testing.T, text string) string {
	t.Helper()
	m, err := labels.ParseMatcher(text)
	require.NoError(t, err, "matcher %q", text)
	return m.String()
}

// chartDefaultAlertmanagerConfig is the chart's own alertmanager.config (values.yaml),
// as the chart renders it with no values given.
func chartDefaultAlertmanagerConfig(t *testing.T, ch *chartrender.Chart) string {
	t.Helper()
	r, err := ch.Render(context.Background(), "defaults", "defaults", nil)
	require.NoError(t, err)
	text, err := r.AlertmanagerConfig()
	require.NoError(t, err)
	return text
}

func inhibitKey(t *testing.T, r inhibitRule) string {
	t.Helper()
	norm := func(ms []string) string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = matcher(t, m)
		}
		return strings.Join(out, ",")
	}
	return "{" + norm(r.SourceMatchers) + "} -> {" + norm(r.TargetMatchers) + "} equal " + strings.Join(r.Equal, ",")
}

// The rendered alertmanager.yaml is valid for amtool too.
func TestChartAlertmanagerConfigPassesAmtool(t *testing.T) {
	amtool := proc.RequireBinary(t, "amtool")
	cr := renderChart(t, settings.Default(), throwawayWebhook)
	text, err := cr.rendered.AlertmanagerConfig()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "alertmanager.yaml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	out, err := exec.Command(amtool, "check-config", file).CombinedOutput()
	require.NoError(t, err, "amtool check-config:\n%s", out)
	assert.Contains(t, string(out), "SUCCESS")
}

// The chart's Prometheus picks up every PrometheusRule and ServiceMonitor of the
// bundle, by its label selectors and namespace selectors, as prometheus-operator reads
// them.
func TestChartPrometheusSelectsTheBundle(t *testing.T) {
	cr := renderChart(t, settings.Default(), throwawayWebhook)
	prom, err := cr.rendered.Prometheus()
	require.NoError(t, err)
	nsLabels := map[string]map[string]string{}
	for _, o := range cr.objs {
		if o.GetKind() == "Namespace" {
			nsLabels[o.GetName()] = o.GetLabels()
		}
	}
	n := 0
	for _, o := range cr.objs {
		if o.GetKind() != "PrometheusRule" && o.GetKind() != "ServiceMonitor" {
			continue
		}
		n++
		ok, err := chartrender.Selects(prom, o, chartrender.NamespaceLabels(o.GetNamespace(), nsLabels[o.GetNamespace()]))
		require.NoError(t, err)
		assert.True(t, ok, "Prometheus %s selects %s %s/%s", prom.GetName(), o.GetKind(), o.GetNamespace(), o.GetName())
	}
	assert.GreaterOrEqual(t, n, 3, "the bundle has rules and ServiceMonitors")
}

// Helm ignores a values key the chart does not know: every key path the HelmRelease
// gives must be one of the chart's or its subcharts' values.yaml.
func TestHelmReleaseValuesAreChartKeys(t *testing.T) {
	cr := renderChart(t, settings.Default(), throwawayWebhook)
	assert.Empty(t, cr.chart.UnknownKeys(cr.values, chartFreeForm...), "keys kube-prometheus-stack %s does not know", charts.KubePrometheusStack.Version)
}
