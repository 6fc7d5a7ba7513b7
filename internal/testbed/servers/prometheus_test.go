package servers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

const alwaysFiringRules = `groups:
  - name: testbed
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: none
`

func TestPrometheusStartReloadQueryStop(t *testing.T) {
	start := time.Now()
	p := PrometheusT(t, Options{}, "", nil)
	logStart(t, "prometheus", start, p.Process)

	assert.Equal(t, "http://"+net.JoinHostPort("127.0.0.1", fmt.Sprint(p.Port)), p.URL)
	var q promResponse
	getJSON(t, p.URL+"/api/v1/query?query="+url.QueryEscape("vector(42)"), &q)
	assert.Equal(t, "success", q.Status)
	assert.Contains(t, string(q.Data), `"42"`)

	selfScrape := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["%s"]
`, net.JoinHostPort(p.Host, fmt.Sprint(p.Port)))
	reloaded := time.Now()
	require.NoError(t, p.Reload(ctx(t), selfScrape, map[string]string{"testbed.yaml": alwaysFiringRules}))

	var alertAt, upAt time.Duration
	require.NoError(t, proc.WaitFor(ctx(t), 100*time.Millisecond, func(context.Context) (bool, error) {
		var alerts, up promResponse
		if getJSON(t, p.URL+"/api/v1/alerts", &alerts); alertAt == 0 && contains(alerts.Data, `"AlwaysFiring"`) {
			alertAt = time.Since(reloaded)
		}
		if getJSON(t, p.URL+"/api/v1/query?query="+url.QueryEscape(`up{job="prometheus"}`), &up); upAt == 0 && contains(up.Data, `"1"`) {
			upAt = time.Since(reloaded)
		}
		return alertAt > 0 && upAt > 0, nil
	}), "self-scrape and the reloaded rule must show up")
	// Rules apply at once; new scrape targets wait for the discovery manager's fixed 5 s tick.
	t.Logf("after reload: alert firing in %d ms, self-scrape up in %d ms", alertAt.Milliseconds(), upAt.Milliseconds())

	var rules promResponse
	getJSON(t, p.URL+"/api/v1/rules", &rules)
	assert.Contains(t, string(rules.Data), `"health":"ok"`)

	err := p.Reload(ctx(t), "scrape_configs: [{job_name: x, static_configs: [{targets: 7}]}]", nil)
	require.Error(t, err, "a bad config is refused")
	assert.Contains(t, err.Error(), "500")
	var still promResponse
	getJSON(t, p.URL+"/api/v1/query?query=up", &still)
	assert.Equal(t, "success", still.Status, "prometheus keeps running on the old config")

	pids := p.Process.Tree()
	require.NotEmpty(t, pids)
	stopStart := time.Now()
	require.NoError(t, p.Stop())
	t.Logf("prometheus stopped in %d ms", time.Since(stopStart).Milliseconds())
	require.NoError(t, p.Stop(), "Stop is idempotent")
	assertGone(t, pids)
}

func TestPrometheusRuleFilesAtStartAndTempDir(t *testing.T) {
	proc.RequireBinary(t, "prometheus")
	p, err := StartPrometheus(ctx(t), Options{}, "", map[string]string{"a.yaml": alwaysFiringRules})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop() })
	require.NoError(t, proc.WaitFor(ctx(t), 200*time.Millisecond, func(context.Context) (bool, error) {
		var alerts promResponse
		getJSON(t, p.URL+"/api/v1/alerts", &alerts)
		return contains(alerts.Data, `"AlwaysFiring"`), nil
	}))
	require.NoError(t, p.Stop())
	_, err = os.Stat(p.Dir)
	assert.True(t, os.IsNotExist(err), "a temporary Dir is removed by Stop")
}

func TestPrometheusPortTaken(t *testing.T) {
	proc.RequireBinary(t, "prometheus")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = StartPrometheus(ctx(t), Options{Dir: t.TempDir(), Port: port}, "", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use", "the error carries the end of the log")
}

func TestWithRuleFiles(t *testing.T) {
	tests := map[string]struct {
		config  string
		paths   []string
		want    string
		wantErr string
	}{
		"no rule files: unchanged": {config: "global: {}\n", want: "global: {}\n"},
		"adds rule_files": {
			config: "global:\n  scrape_interval: 1s\n", paths: []string{"/r/a.yaml", "/r/b.yaml"},
			want: "global:\n  scrape_interval: 1s\nrule_files:\n  - /r/a.yaml\n  - /r/b.yaml\n",
		},
		"keeps the caller's rule_files": {
			config: "rule_files: [rules/*.yaml]\n", paths: []string{"/r/a.yaml"},
			want: "rule_files: [rules/*.yaml]\n",
		},
		"keeps big numbers as written": {
			config: "global:\n  sample_limit: 1000000\n", paths: []string{"/r/a.yaml"},
			want: "global:\n  sample_limit: 1000000\nrule_files:\n  - /r/a.yaml\n",
		},
		"not a mapping": {config: "- a\n", paths: []string{"/r/a.yaml"}, wantErr: "want a mapping"},
		"bad yaml":      {config: "a: [", paths: []string{"/r/a.yaml"}, wantErr: "parse prometheus config"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := withRuleFiles(tc.config, tc.paths)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

// promResponse is the envelope of Prometheus's HTTP API.
type promResponse struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, body)
	require.NoError(t, json.Unmarshal(body, v), "GET %s: %s", u, body)
}

func contains(data json.RawMessage, s string) bool {
	return strings.Contains(string(data), s)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// logStart logs how long a server took to become ready and its resident memory.
func logStart(t *testing.T, name string, since time.Time, p *proc.Process) {
	t.Helper()
	took := time.Since(since)
	rss, err := p.RSS()
	require.NoError(t, err)
	pss, err := p.PSS()
	require.NoError(t, err)
	t.Logf("%s ready in %d ms, RSS %.1f MiB, PSS %.1f MiB (%d processes)",
		name, took.Milliseconds(), float64(rss)/(1<<20), float64(pss)/(1<<20), len(p.Tree()))
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		assert.False(t, proc.Alive(pid), "pid %d is still running after Stop", pid)
	}
}
