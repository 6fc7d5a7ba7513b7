package servers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

func TestAlertmanagerStatusNotifyReloadStop(t *testing.T) {
	var notified atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "TestbedAlert") {
			notified.Add(1)
		}
	}))
	defer hook.Close()
	// The webhook URL stands in for a secret (the Discord webhook): it must not be logged.
	config := fmt.Sprintf(`route:
  receiver: hook
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: %s/secret-token-do-not-log
`, hook.URL)

	start := time.Now()
	a := AlertmanagerT(t, Options{}, config)
	logStart(t, "alertmanager", start, a.Process)

	var status struct {
		Cluster     struct{ Status string }   `json:"cluster"`
		Config      struct{ Original string } `json:"config"`
		VersionInfo map[string]string         `json:"versionInfo"`
	}
	getJSON(t, a.URL+"/api/v2/status", &status)
	assert.Equal(t, "disabled", status.Cluster.Status, "--cluster.listen-address= turns gossip off")
	assert.Contains(t, status.Config.Original, "receiver: hook")
	t.Logf("alertmanager version %s", status.VersionInfo["version"])

	// An alert is delivered at once: no gossip settling holds it back.
	posted := time.Now()
	postAlert(t, a.URL, "TestbedAlert")
	require.NoError(t, proc.WaitFor(ctx(t), 50*time.Millisecond, func(context.Context) (bool, error) {
		return notified.Load() > 0, nil
	}))
	t.Logf("alert notified %d ms after it was posted", time.Since(posted).Milliseconds())

	require.NoError(t, a.Reload(ctx(t), ""), "the default config loads")
	getJSON(t, a.URL+"/api/v2/status", &status)
	assert.Contains(t, status.Config.Original, `"null"`)
	err := a.Reload(ctx(t), "route: {receiver: nowhere}\n")
	require.Error(t, err, "a bad config is refused")
	assert.Contains(t, err.Error(), "nowhere")

	pids := a.Process.Tree()
	require.NoError(t, a.Stop())
	require.NoError(t, a.Stop())
	assertGone(t, pids)
	log, err := os.ReadFile(a.Process.LogFile)
	require.NoError(t, err)
	assert.NotContains(t, string(log), "secret-token-do-not-log")
}

func postAlert(t *testing.T, base, name string) {
	t.Helper()
	body := fmt.Sprintf(`[{"labels":{"alertname":%q,"severity":"none"}}]`, name)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(out))
}
