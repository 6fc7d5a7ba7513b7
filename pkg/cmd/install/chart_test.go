package install_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// What `install --export` prints for the default settings goes through the chart the
// HelmRelease pins: the values merged by Flux's chartutil, kube-prometheus-stack
// rendered by Helm's SDK, with an Alertmanager config and a Prometheus object.
func TestExportRendersThroughTheRealChart(t *testing.T) {
	ch, err := chartrender.Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	r := run(t, "", "--server", "https://127.0.0.1:1", "--config", empty, "install", "--export")
	require.Equal(t, 0, r.Code, r.Err)

	s := settings.Default()
	var hr *unstructured.Unstructured
	sources := []runtime.Object{&corev1.Secret{ // what ESO writes
		ObjectMeta: metav1.ObjectMeta{Name: s.Monitoring.DiscordSecret.Name, Namespace: s.Namespaces.Monitoring},
		Data:       map[string][]byte{s.Monitoring.DiscordSecret.Key: []byte("https://discord.com/api/webhooks/1/throwaway")},
	}}
	for _, o := range decodeYAML(t, r.Out) {
		switch o.GetKind() {
		case "HelmRelease":
			hr = o
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm))
			sources = append(sources, cm)
		}
	}
	require.NotNil(t, hr, "the export has the HelmRelease")
	rendered, _, err := ch.RenderHelmRelease(context.Background(), chartrender.ObjectClient(sources...), hr)
	require.NoError(t, err)
	cfg, err := rendered.AlertmanagerConfig()
	require.NoError(t, err)
	assert.Contains(t, cfg, "https://discord.com/api/webhooks/1/throwaway")
	_, err = rendered.Prometheus()
	require.NoError(t, err)
}
