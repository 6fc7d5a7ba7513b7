package bundle

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func TestAlertmanagerConfigPassesAmtool(t *testing.T) {
	amtool := proc.RequireBinary(t, "amtool")
	tests := map[string]func(s *settings.Settings){
		"defaults":       func(*settings.Settings) {},
		"other receiver": func(s *settings.Settings) { s.Monitoring.Receiver = "home: discord" },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			edit(s)
			cfg, err := AlertmanagerConfig(s)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), "alertmanager.yml")
			require.NoError(t, os.WriteFile(file, []byte(cfg), 0o600))
			out, err := exec.Command(amtool, "check-config", file).CombinedOutput()
			require.NoError(t, err, "amtool check-config:\n%s", out)
			assert.Contains(t, string(out), "SUCCESS")
			assert.Regexp(t, `(?m)^ - 2 receivers$`, string(out))
		})
	}
}

func TestAlertmanagerConfigRoutes(t *testing.T) {
	cfg, err := AlertmanagerConfig(settings.Default())
	require.NoError(t, err)
	var c struct {
		Route struct {
			Receiver      string   `json:"receiver"`
			GroupBy       []string `json:"group_by"`
			GroupInterval string   `json:"group_interval"`
			Routes        []struct {
				Receiver string   `json:"receiver"`
				Matchers []string `json:"matchers"`
			} `json:"routes"`
		} `json:"route"`
		Receivers []struct {
			Name    string           `json:"name"`
			Discord []map[string]any `json:"discord_configs"`
		} `json:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(cfg), &c))
	assert.Equal(t, "discord-alerts", c.Route.Receiver)
	assert.Equal(t, "5m", c.Route.GroupInterval)
	assert.NotEmpty(t, c.Route.GroupBy)
	nullRouted := map[string]bool{}
	for _, r := range c.Route.Routes {
		if r.Receiver == "null" {
			for _, m := range r.Matchers {
				nullRouted[m] = true
			}
		}
	}
	assert.True(t, nullRouted[`alertname = "Watchdog"`], "Watchdog goes to the null receiver, it is not deleted")
	assert.True(t, nullRouted[`alertname = "KubeMemoryOvercommit"`])
	assert.Contains(t, cfg, "KubeMemoryOvercommit, decided:", "the decision is explained where it is made")
	require.Len(t, c.Receivers, 2)
	assert.Equal(t, "null", c.Receivers[0].Name)
	assert.Empty(t, c.Receivers[0].Discord)
	require.Len(t, c.Receivers[1].Discord, 1)
	d := c.Receivers[1].Discord[0]
	assert.Equal(t, true, d["send_resolved"])
	assert.Equal(t, PlaceholderWebhookURL, d["webhook_url"])
}

// The HelmRelease gets Alertmanager's config from the values ConfigMap and the
// webhook URL from the Secret, at a targetPath inside that config. Merged by Flux's
// own chartutil (as helm-controller merges), the values hold exactly the config amtool
// checked, with the Secret's URL.
func TestHelmReleaseGetsWebhookIntoDiscordReceiver(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, Monitoring)
	require.NoError(t, err)

	vf := discordValuesFrom(t, objs)
	assert.Equal(t, "Secret", vf["kind"])
	assert.Equal(t, s.Monitoring.DiscordSecret.Name, vf["name"])
	assert.Equal(t, s.Monitoring.DiscordSecret.Key, vf["valuesKey"])

	ch, err := chartrender.Load(charts.Locate(t, charts.KubePrometheusStack))
	require.NoError(t, err)
	cr := renderObjects(t, ch, objs, s, throwawayWebhook)
	want, err := AlertmanagerConfig(s)
	require.NoError(t, err)
	var wantCfg map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(strings.Replace(want, PlaceholderWebhookURL, throwawayWebhook, 1)), &wantCfg))
	assert.Equal(t, wantCfg, cr.values["alertmanager"].(map[string]any)["config"])

	hr := find(t, objs, "HelmRelease", s.Monitoring.HelmRelease)
	_, found, _ := unstructured.NestedFieldNoCopy(hr.Object, "spec", "values", "alertmanager", "config")
	assert.False(t, found, "spec.values is merged last by Flux: a config there would replace the receivers that hold the webhook URL")
	enabled, _, _ := unstructured.NestedBool(hr.Object, "spec", "values", "alertmanager", "enabled")
	assert.True(t, enabled)
	assert.Equal(t, "helm.toolkit.fluxcd.io/v2", hr.GetAPIVersion())
	assert.Equal(t, "source.toolkit.fluxcd.io/v1", find(t, objs, "HelmRepository", "prometheus-community").GetAPIVersion())
	assert.Equal(t, "external-secrets.io/v1", find(t, objs, "ExternalSecret", s.Monitoring.DiscordSecret.Name).GetAPIVersion())
}

// A real Alertmanager runs the config the chart renders (the Secret Alertmanager
// mounts, with the fake Discord's URL as the webhook) and notifies the fake Discord:
// the message holds the alert name, severity, instance, description and runbook.
func TestDiscordNotificationIsReadable(t *testing.T) {
	discord := newFakeDiscord(t)
	cfg, err := renderChart(t, settings.Default(), discord.URL).rendered.AlertmanagerConfig()
	require.NoError(t, err)
	require.Contains(t, cfg, "group_wait: 30s")
	cfg = strings.Replace(cfg, "group_wait: 30s", "group_wait: 1s", 1)
	am := servers.AlertmanagerT(t, servers.Options{}, cfg)

	alerts := []map[string]any{
		{
			"labels": map[string]string{"alertname": "ImmichServerDown", "severity": "critical", "namespace": "immich", "instance": "10.42.0.7:8081"},
			"annotations": map[string]string{
				"summary":     "Immich does not answer Prometheus's scrapes.",
				"description": "Every scrape of 10.42.0.7:8081 has failed for 1m.",
				"runbook_url": "https://example.test/runbooks/ImmichServerDown.md",
			},
		},
		{"labels": map[string]string{"alertname": "Watchdog", "severity": "none"}},
	}
	body, err := json.Marshal(alerts)
	require.NoError(t, err)
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	msg := discord.wait(t, 20*time.Second)
	require.Len(t, msg.Embeds, 1)
	e := msg.Embeds[0]
	assert.Equal(t, "[FIRING:1] ImmichServerDown in immich", e.Title)
	for _, want := range []string{
		"**ImmichServerDown** (critical) FIRING", "Immich does not answer", "Instance: 10.42.0.7:8081",
		"Description: Every scrape of 10.42.0.7:8081", "Runbook: https://example.test/runbooks/ImmichServerDown.md",
	} {
		assert.Contains(t, e.Description, want)
	}
	time.Sleep(2 * time.Second) // group_wait of the Watchdog group: it must stay silent
	for _, m := range discord.all() {
		assert.NotContains(t, m.Embeds[0].Title, "Watchdog", "Watchdog goes to the null receiver")
	}
}

type discordMessage struct {
	Embeds []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"embeds"`
}

type fakeDiscord struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []discordMessage
	got  chan struct{}
}

func newFakeDiscord(t *testing.T) *fakeDiscord {
	d := &fakeDiscord{got: make(chan struct{}, 16)}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m discordMessage
		if err := json.Unmarshal(b, &m); err != nil || len(m.Embeds) == 0 {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		d.msgs = append(d.msgs, m)
		d.mu.Unlock()
		d.got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *fakeDiscord) wait(t *testing.T, timeout time.Duration) discordMessage {
	t.Helper()
	select {
	case <-d.got:
	case <-time.After(timeout):
		require.FailNow(t, "Alertmanager sent nothing to Discord")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.msgs[0]
}

func (d *fakeDiscord) all() []discordMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]discordMessage(nil), d.msgs...)
}

func alertmanagerValues(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	cm := find(t, objs, "ConfigMap", settings.Default().Monitoring.HelmRelease+"-alertmanager-values")
	v, _, _ := unstructured.NestedString(cm.Object, "data", "values.yaml")
	require.NotEmpty(t, v)
	return v
}

func discordValuesFrom(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "HelmRelease" {
			continue
		}
		refs, _, _ := unstructured.NestedSlice(o.Object, "spec", "valuesFrom")
		require.Len(t, refs, 2)
		assert.Equal(t, "ConfigMap", refs[0].(map[string]any)["kind"], "the config comes first, the Secret is written into it")
		return refs[1].(map[string]any)
	}
	require.FailNow(t, "no HelmRelease rendered")
	return nil
}
