// Package amtest helps test the Alertmanager commands against a real Alertmanager:
// a webhook sink that records notifications, an Alertmanager routed to it, and
// amtool. The plugin itself runs through plugintest.
package amtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// Notification is one webhook notification as Alertmanager sends it.
type Notification struct {
	Receiver string  `json:"receiver"`
	Status   string  `json:"status"`
	Alerts   []Alert `json:"alerts"`
	// Path is the sink path it was posted to.
	Path string `json:"-"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

// Sink records every webhook notification. Posts to /fail are answered 400, which
// Alertmanager does not retry: a receiver pointed there fails for good at once.
type Sink struct {
	URL string

	mu    sync.Mutex
	notes []Notification
}

// NewSink starts a sink on 127.0.0.1 for the test.
func NewSink(t testing.TB) *Sink {
	s := &Sink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.Path = r.URL.Path
		s.mu.Lock()
		s.notes = append(s.notes, n)
		s.mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "the sink refuses this receiver", http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Notifications returns what the sink got so far.
func (s *Sink) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.notes...)
}

// Seen tells whether a notification with status (firing or resolved) held an
// alert with label=value.
func (s *Sink) Seen(status, label, value string) bool {
	for _, n := range s.Notifications() {
		for _, a := range n.Alerts {
			if n.Status == status && a.Status == status && a.Labels[label] == value {
				return true
			}
		}
	}
	return false
}

// Config is an Alertmanager config for tests, with short timings: everything goes
// to the sink (send_resolved), team="nobody" to a receiver without integrations,
// team="broken" to a receiver the sink refuses, team="slow" to the sink after an
// hour's group_wait, and a firing Inhibitor alert
// inhibits team="inhibited".
func Config(sinkURL string) string {
	return fmt.Sprintf(`global:
  resolve_timeout: 30s
route:
  receiver: sink
  group_by: [alertname, test_id]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - receiver: "null"
    matchers: ['team="nobody"']
  - receiver: broken
    matchers: ['team="broken"']
  - receiver: sink
    matchers: ['team="slow"']
    group_wait: 1h
inhibit_rules:
- source_matchers: ['alertname="Inhibitor"']
  target_matchers: ['team="inhibited"']
receivers:
- name: sink
  webhook_configs:
  - url: %[1]q
    send_resolved: true
- name: "null"
- name: broken
  webhook_configs:
  - url: %[2]q
    send_resolved: true
`, sinkURL+"/hook", sinkURL+"/fail")
}

// Start starts a sink and an Alertmanager routed to it (see Config).
func Start(t testing.TB) (*servers.Alertmanager, *Sink) {
	t.Helper()
	sink := NewSink(t)
	am := servers.AlertmanagerT(t, servers.Options{}, Config(sink.URL))
	return am, sink
}

// Amtool runs amtool against the Alertmanager at url and returns its stdout.
func Amtool(t testing.TB, url string, args ...string) string {
	t.Helper()
	bin := proc.RequireBinary(t, "amtool")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, append(args, "--alertmanager.url="+url)...)
	c.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.config/amtool/config.yml
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "amtool %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// Client returns the plugin's own Alertmanager client for url, for assertions.
func Client(t testing.TB, url string) *alertmanager.Client {
	t.Helper()
	f := factory.New(genericclioptions.NewConfigFlags(false), &factory.Options{AlertmanagerURL: url})
	c, err := f.Alertmanager()
	require.NoError(t, err)
	return c
}

// Silences lists every silence (expired ones too) through the API.
func Silences(t testing.TB, url string) models.GettableSilences {
	t.Helper()
	s, err := Client(t, url).Silences(context.Background(), nil)
	require.NoError(t, err)
	return s
}

// Alerts lists the alerts Alertmanager holds through the API.
func Alerts(t testing.TB, url string, filter ...string) models.GettableAlerts {
	t.Helper()
	a, err := Client(t, url).Alerts(context.Background(), filter)
	require.NoError(t, err)
	return a
}

// PostAlerts fires alerts with the given label sets until an hour from now.
func PostAlerts(t testing.TB, url string, labelSets ...map[string]string) {
	t.Helper()
	var alerts models.PostableAlerts
	for _, ls := range labelSets {
		alerts = append(alerts, &models.PostableAlert{
			Alert:  models.Alert{Labels: ls},
			EndsAt: strfmt.DateTime(time.Now().Add(time.Hour)),
		})
	}
	require.NoError(t, Client(t, url).PostAlerts(context.Background(), alerts))
}

// ClosedURL is an http URL on which nothing listens (nor can, until the test ends).
func ClosedURL(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", proc.ClosedPort(t))
}
