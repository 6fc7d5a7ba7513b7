package check_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// unreachable writes a kubeconfig and settings for an API server where nothing
// listens, and returns the global flags with Prometheus and Alertmanager URLs.
func unreachable(t *testing.T, promURL, amURL string) []string {
	t.Helper()
	closed := proc.ClosedPort(t)
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, closed)), 0o600))
	cfg := defaultSettingsFile(t)
	if promURL == "" {
		promURL = fmt.Sprintf("http://127.0.0.1:%d", closed)
	}
	if amURL == "" {
		amURL = fmt.Sprintf("http://127.0.0.1:%d", closed)
	}
	return []string{"--kubeconfig", kc, "--config", cfg, "--prometheus-url", promURL, "--alertmanager-url", amURL}
}

func TestNothingAnswers(t *testing.T) {
	flags := unreachable(t, "", "")
	out, errOut, code := run(t, append(flags, "check", "-o", "json")...)
	assert.Equal(t, exitcode.Usage, code, errOut)
	r := parseReport(t, out)
	assert.False(t, r.Success)
	assert.Len(t, r.notOK(), 18, "every check reports, none is hidden")
	_, msg, hint, _ := r.find(t, "kubernetes/api-server")
	assert.Contains(t, msg, "the API server does not answer")
	assert.Contains(t, msg, "connection refused")
	assert.Contains(t, hint, "kubectl cluster-info")
	_, msg, _, _ = r.find(t, "monitoring/prometheus")
	assert.Contains(t, msg, "cannot reach Prometheus (http://127.0.0.1:")
	_, msg, _, _ = r.find(t, "monitoring/alertmanager")
	assert.Contains(t, msg, "cannot reach Alertmanager (http://127.0.0.1:")
}

func TestAHangingPrometheusTimesOut(t *testing.T) {
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
	flags := unreachable(t, "http://"+hang.Addr().String(), "")
	began := time.Now()
	out, errOut, code := run(t, append(flags, "check", "--category", "rules", "--check-timeout", "1s")...)
	assert.Equal(t, exitcode.Timeout, code, "%s\n%s", out, errOut)
	assert.Less(t, time.Since(began), 5*time.Second, "checks run concurrently, each bounded by --check-timeout")
	assert.Contains(t, out, "× rule-groups")
	assert.Contains(t, out, "× alert-series")
}

func TestUsageErrors(t *testing.T) {
	flags := unreachable(t, "", "")
	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown category": {args: []string{"check", "--category", "backups"}, want: `unknown category "backups"`},
		"bad output":       {args: []string{"check", "-o", "wide"}, want: `unsupported output format "wide"`},
		"negative wait":    {args: []string{"check", "--wait", "-1s"}, want: `invalid argument "-1s" for "--wait" flag: must not be negative`},
		"an argument":      {args: []string{"check", "immich"}, want: "unknown command"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := run(t, append(flags, tc.args...)...)
			assert.Equal(t, exitcode.Usage, code)
			assert.Contains(t, errOut, tc.want)
		})
	}
}

// defaultSettingsFile writes an empty settings file: the defaults.
func defaultSettingsFile(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, nil, 0o600))
	return cfg
}
