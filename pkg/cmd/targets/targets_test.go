package targets_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }

func run(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	r := plugintest.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

// startPrometheus starts a real Prometheus scraping itself (up) and a port where
// nothing listens (down), and waits until both were scraped.
func startPrometheus(t *testing.T) *servers.Prometheus {
	t.Helper()
	closed := proc.ClosedPort(t)
	p := servers.PrometheusT(t, servers.Options{}, "", nil)
	cfg := servers.UpAndDownConfig(p, closed)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Reload(ctx, cfg, nil))
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(context.Context) (bool, error) {
		out, _, _ := run(t, "--prometheus-url", p.URL, "targets", "-o", "json")
		var ts []prometheus.Target
		if json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 2 {
			return false, nil
		}
		return !ts[0].LastScrape.IsZero() && !ts[1].LastScrape.IsZero(), nil
	}))
	return p
}

func TestTargets(t *testing.T) {
	p := startPrometheus(t)
	tests := map[string]struct {
		args       []string
		code       int
		out, err   []string
		notInTable []string
	}{
		"all, one down": {
			args: []string{"targets"}, code: exitcode.Failure,
			out: []string{"JOB", "INSTANCE", "HEALTH", "LAST SCRAPE", "nothing", "down", "connection refused", "self", "up"},
			err: []string{"1 of 2 targets is down", "nothing 127.0.0.1:", "connection refused"},
		},
		"only the healthy job": {
			args: []string{"targets", "--job", "self"}, code: exitcode.OK,
			out: []string{"self", "up", "s ago"}, notInTable: []string{"nothing"},
		},
		"the pattern is anchored": {
			args: []string{"targets", "--job", "sel"}, code: exitcode.Failure,
			err: []string{`no target's job matches "sel" (of 2 targets)`},
		},
		"bad pattern": {
			args: []string{"targets", "--job", "("}, code: exitcode.Usage,
			err: []string{"invalid job pattern"},
		},
		"bad output": {
			args: []string{"targets", "-o", "xml"}, code: exitcode.Usage,
			err: []string{`unsupported output format "xml"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"--prometheus-url", p.URL}, tc.args...)...)
			assert.Equal(t, tc.code, code, "%s\n%s", out, errOut)
			for _, s := range tc.out {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.err {
				assert.Contains(t, errOut, s)
			}
			for _, s := range tc.notInTable {
				assert.NotContains(t, out, s)
			}
		})
	}
}

func TestTargetsJSON(t *testing.T) {
	p := startPrometheus(t)
	out, _, code := run(t, "--prometheus-url", p.URL, "targets", "-o", "json", "--job", "self|nothing")
	assert.Equal(t, exitcode.Failure, code)
	var ts []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ts), out)
	require.Len(t, ts, 2)
	assert.Equal(t, "nothing", ts[0]["job"])
	assert.Equal(t, "down", ts[0]["health"])
	assert.Contains(t, ts[0]["lastError"], "connection refused")
	assert.Equal(t, "self", ts[1]["job"])
	assert.Equal(t, 1.0, ts[1]["scrapeIntervalSeconds"])
	assert.NotContains(t, out, "discoveredLabels")
}

func TestTargetsConnectionFailures(t *testing.T) {
	closed := proc.ClosedPort(t)
	// A server that accepts connections and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	t.Run("refused: exit 2 with what was tried", func(t *testing.T) {
		url := fmt.Sprintf("http://127.0.0.1:%d", closed)
		_, errOut, code := run(t, "--prometheus-url", url, "targets")
		assert.Equal(t, exitcode.Usage, code)
		assert.Contains(t, errOut, "cannot reach Prometheus ("+url+")")
		assert.Contains(t, errOut, "connection refused")
	})
	t.Run("timeout: exit 124", func(t *testing.T) {
		began := time.Now()
		_, errOut, code := run(t, "--prometheus-url", "http://"+hang.Addr().String(), "--request-timeout", "1s", "targets")
		assert.Equal(t, exitcode.Timeout, code, errOut)
		assert.Less(t, time.Since(began), 10*time.Second)
	})
	t.Run("service proxy without Prometheus: exit 2", func(t *testing.T) {
		bed := testbed.Require(t)
		_, errOut, code := run(t, "--kubeconfig", bed.Kubeconfig, "targets")
		assert.Equal(t, exitcode.Usage, code, errOut)
		assert.Contains(t, errOut, "cannot reach Prometheus (service monitoring/prometheus-operated:web through the API server at "+bed.Server)
	})
	t.Run("API server down: exit 2", func(t *testing.T) {
		kc := writeKubeconfig(t, fmt.Sprintf("https://127.0.0.1:%d", closed))
		_, errOut, code := run(t, "--kubeconfig", kc, "targets")
		assert.Equal(t, exitcode.Usage, code, errOut)
		assert.True(t, strings.Contains(errOut, "connection refused"), errOut)
	})
}

// writeKubeconfig writes a kubeconfig for a server where nothing listens.
func writeKubeconfig(t *testing.T, server string) string {
	path := t.TempDir() + "/kubeconfig"
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, server)), 0o600))
	return path
}
