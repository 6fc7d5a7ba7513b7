package servers

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// chartImageTags reads the image tags the pinned chart deploys from its values.yaml, the
// independent record of the versions a user's cluster runs.
func chartImageTags(t *testing.T) map[string]string {
	t.Helper()
	path := charts.Locate(t, charts.KubePrometheusStack)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "kube-prometheus-stack/values.yaml not in %s", path)
		if h.Name != "kube-prometheus-stack/values.yaml" {
			continue
		}
		var values struct {
			Alertmanager struct {
				Spec struct {
					Image struct{ Tag string } `yaml:"image"`
				} `yaml:"alertmanagerSpec"`
			} `yaml:"alertmanager"`
			Prometheus struct {
				Spec struct {
					Image struct{ Tag string } `yaml:"image"`
				} `yaml:"prometheusSpec"`
			} `yaml:"prometheus"`
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(data, &values))
		return map[string]string{"prometheus": values.Prometheus.Spec.Image.Tag, "alertmanager": values.Alertmanager.Spec.Image.Tag}
	}
}

// TestServersAreTheChartsVersions proves the tests run the Prometheus and Alertmanager a
// user of the pinned chart runs: the versions the running servers report equal the chart's
// image tags, and so do promtool's and amtool's.
func TestServersAreTheChartsVersions(t *testing.T) {
	tags := chartImageTags(t)
	require.NotEmpty(t, tags["prometheus"])
	require.NotEmpty(t, tags["alertmanager"])

	p := PrometheusT(t, Options{}, "", nil)
	var build struct {
		Data struct{ Version string } `json:"data"`
	}
	getJSON(t, p.URL+"/api/v1/status/buildinfo", &build)
	assert.Equal(t, tags["prometheus"], "v"+build.Data.Version, "Prometheus's buildinfo")

	a := AlertmanagerT(t, Options{}, "route: {receiver: x}\nreceivers: [{name: x}]\n")
	var status struct {
		VersionInfo struct{ Version string } `json:"versionInfo"`
	}
	getJSON(t, a.URL+"/api/v2/status", &status)
	assert.Equal(t, tags["alertmanager"], "v"+status.VersionInfo.Version, "Alertmanager's /api/v2/status")

	for tool, want := range map[string]string{"promtool": tags["prometheus"], "amtool": tags["alertmanager"]} {
		out, err := exec.Command(proc.RequireBinary(t, tool), "--version").CombinedOutput()
		require.NoError(t, err, "%s --version: %s", tool, out)
		assert.Contains(t, string(out), "version "+strings.TrimPrefix(want, "v")+" ", "%s --version", tool)
	}
}

// TestLookBinaryTakesServersOnlyFromTheBed: Debian's older Prometheus and Alertmanager
// (2.42, 0.25) may be installed, but the tests must never pick them up.
func TestLookBinaryTakesServersOnlyFromTheBed(t *testing.T) {
	for _, name := range []string{"prometheus", "promtool", "alertmanager", "amtool"} {
		p, err := proc.LookBinary(name)
		if err != nil {
			assert.Contains(t, err.Error(), "test bed", name)
			continue
		}
		assert.Contains(t, p, "/testbed/", "%s must come from the test bed build, got %s", name, p)
		assert.NotContains(t, p, "/usr/bin/", name)
	}
}
