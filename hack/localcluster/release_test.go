package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// releaseStandIns is a helm-controller stand-in over the bundle's values sources, with
// the Secret ESO would write holding the webhook URL webhook gives; no bed needed.
func releaseStandIns(t *testing.T, webhook func(*discordSink) string) (*standIns, *unstructured.Unstructured) {
	t.Helper()
	s := settings.Default()
	sink := newDiscordSink("http://10.250.0.7", io.Discard)
	ch, err := chartrender.Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	objs, err := bundle.Render(s, bundle.Monitoring)
	require.NoError(t, err)
	var hr *unstructured.Unstructured
	var sources []runtime.Object
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
	require.NotNil(t, hr)
	sources = append(sources, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Monitoring.DiscordSecret.Name, Namespace: s.Namespaces.Monitoring},
		Data:       map[string][]byte{s.Monitoring.DiscordSecret.Key: []byte(webhook(sink))},
	})
	si := &standIns{
		settings: s, discord: sink,
		flux: chartrender.ObjectClient(sources...), chart: ch, releases: map[string]*release{},
	}
	return si, hr
}

// The stand-in loads the chart's real Alertmanager config (the Secret the chart
// renders, with the chart's defaults merged in and the Secret's URL) and keeps the
// chart's Prometheus object; a second pass with the same values reuses the render.
func TestRenderReleaseLoadsTheChartsOutput(t *testing.T) {
	var url string
	si, hr := releaseStandIns(t, func(d *discordSink) string { url = d.newWebhookURL(); return url })
	rel, sources, err := si.renderRelease(context.Background(), hr)
	require.NoError(t, err)
	s := settings.Default()
	assert.Equal(t, "ConfigMap "+s.Monitoring.HelmRelease+"-alertmanager-values, Secret "+s.Monitoring.DiscordSecret.Name+" and spec.values", sources)

	var cfg struct {
		Templates []string `json:"templates"`
		Receivers []struct {
			Name    string           `json:"name"`
			Discord []map[string]any `json:"discord_configs"`
		} `json:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(rel.alertmanager), &cfg))
	assert.NotEmpty(t, cfg.Templates, "the chart's own defaults are merged in: the config is the chart's, not the values")
	found := false
	for _, r := range cfg.Receivers {
		for _, d := range r.Discord {
			found = found || d["webhook_url"] == url
		}
	}
	assert.True(t, found, "the Secret's URL is in the Discord receiver")
	require.NotNil(t, rel.prometheus)
	assert.Equal(t, "Prometheus", rel.prometheus.GetKind())

	again, _, err := si.renderRelease(context.Background(), hr)
	require.NoError(t, err)
	assert.Same(t, rel, again, "same values, no second render")
}

// A webhook the local Discord did not issue is refused: the demo never posts outside.
func TestRenderReleaseRefusesForeignWebhook(t *testing.T) {
	si, hr := releaseStandIns(t, func(*discordSink) string { return "https://discord.com/api/webhooks/1/real" })
	_, _, err := si.renderRelease(context.Background(), hr)
	require.ErrorContains(t, err, "not one the local Discord stand-in issued")
}

// A values source that is missing fails in Flux's own words.
func TestRenderReleaseMissingSource(t *testing.T) {
	si, hr := releaseStandIns(t, func(*discordSink) string { return "x" })
	si.flux = chartrender.ObjectClient()
	_, _, err := si.renderRelease(context.Background(), hr)
	require.ErrorContains(t, err, "could not resolve ConfigMap chart values reference")
}
