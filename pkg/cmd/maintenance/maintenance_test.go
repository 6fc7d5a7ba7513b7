package maintenance_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// windows returns the current maintenance silences, through the API.
func windows(t *testing.T, url string) []*models.GettableSilence {
	t.Helper()
	return am.MaintenanceWindows(amtest.Silences(t, url))
}

func TestStartStatusStop(t *testing.T) {
	srv, _ := amtest.Start(t)
	amtest.PostAlerts(t, srv.URL,
		map[string]string{"alertname": "ImmichServerDown", "namespace": "immich"},
		map[string]string{"alertname": "TargetDown", "namespace": "monitoring"},
	)
	run := func(args ...string) plugintest.Result {
		return plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "maintenance"}, args...)...)
	}

	r := run("status")
	require.NoError(t, r.Err)
	assert.Contains(t, r.Stderr, "No maintenance window is running")

	// First start: one silence on the Immich namespace, marked.
	r = run("start", "--duration", "1h", "--comment", "Immich upgrade")
	require.NoError(t, r.Err, r.Stderr)
	id := strings.TrimSpace(r.Stdout)
	require.NoError(t, am.CheckSilenceID(id))
	assert.Contains(t, r.Stderr, "maintenance window created")
	ws := windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, id, am.SilenceID(ws[0]))
	assert.Equal(t, `namespace="immich"`, am.FormatAPIMatchers(ws[0].Matchers))
	assert.Equal(t, am.MaintenanceMarker+" Immich upgrade", *ws[0].Comment)
	firstEnd := time.Time(*ws[0].EndsAt)
	assert.WithinDuration(t, time.Now().Add(time.Hour), firstEnd, 5*time.Second)

	// Starting again extends the same silence; it never adds one.
	r = run("start", "--duration", "3h")
	require.NoError(t, r.Err)
	assert.Equal(t, id+"\n", r.Stdout)
	assert.Contains(t, r.Stderr, "maintenance window extended")
	ws = windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, id, am.SilenceID(ws[0]))
	assert.WithinDuration(t, time.Now().Add(3*time.Hour), time.Time(*ws[0].EndsAt), 5*time.Second)
	assert.Equal(t, am.MaintenanceMarker+" Immich upgrade", *ws[0].Comment, "comment kept")

	// A shorter start never shortens the window.
	end := time.Time(*ws[0].EndsAt)
	r = run("start", "--duration", "10m")
	require.NoError(t, r.Err)
	assert.Contains(t, r.Stderr, "maintenance window unchanged")
	ws = windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, end, time.Time(*ws[0].EndsAt))

	// Status shows it and what it mutes.
	r = run("status")
	require.NoError(t, r.Err)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 2)
	assert.Regexp(t, `^ID\s+MATCHERS\s+STATE\s+ENDS\s+REMAINING\s+MUTED ALERTS\s+COMMENT$`, lines[0])
	assert.Regexp(t, `^`+id+`\s+namespace="immich"\s+active\s+.*\s+1\s+Immich upgrade$`, lines[1])
	r = run("status", "-o", "json")
	require.NoError(t, r.Err)
	var st []am.MaintenanceStatus
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &st))
	require.Len(t, st, 1)
	assert.Equal(t, id, am.SilenceID(st[0].Silence))
	require.Len(t, st[0].Covered, 1)
	assert.Equal(t, "ImmichServerDown", st[0].Covered[0].Labels["alertname"])

	// Other matchers replace the window: still exactly one.
	r = run("start", "--duration", "2h", "namespace=backup-jobs")
	require.NoError(t, r.Err)
	assert.Contains(t, r.Stderr, "maintenance window replaced")
	ws = windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, `namespace="backup-jobs"`, am.FormatAPIMatchers(ws[0].Matchers))
	assert.Equal(t, strings.TrimSpace(r.Stdout), am.SilenceID(ws[0]))

	// Stop expires it; stopping again is fine.
	r = run("stop")
	require.NoError(t, r.Err)
	assert.Equal(t, am.SilenceID(ws[0])+"\n", r.Stdout)
	assert.Empty(t, windows(t, srv.URL))
	r = run("stop")
	require.NoError(t, r.Err)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, "No maintenance window is running")
	r = run("status", "-o", "json")
	require.NoError(t, r.Err)
	assert.JSONEq(t, "[]", r.Stdout)
}

func TestStartLeavesOtherSilencesAlone(t *testing.T) {
	srv, _ := amtest.Start(t)
	other := strings.TrimSpace(amtest.Amtool(t, srv.URL, "silence", "add", "namespace=immich", "-c", "someone else's", "-d", "1h"))
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h")
	require.NoError(t, r.Err)
	assert.NotEqual(t, other, strings.TrimSpace(r.Stdout))
	require.NoError(t, plugintest.Run(t, "--alertmanager-url", srv.URL, "maintenance", "stop").Err)
	var active []string
	for _, s := range am.FilterSilences(amtest.Silences(t, srv.URL), false) {
		active = append(active, am.SilenceID(s))
	}
	assert.Equal(t, []string{other}, active)
}

func TestDefaultMatcherFollowsSettings(t *testing.T) {
	srv, _ := amtest.Start(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("namespaces:\n  immich: photos\n"), 0o600))
	r := plugintest.Run(t, "--config", cfg, "--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h")
	require.NoError(t, r.Err)
	ws := windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, `namespace="photos"`, am.FormatAPIMatchers(ws[0].Matchers))

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("namespaces:\n  imich: photos\n"), 0o600))
	r = plugintest.Run(t, "--config", bad, "--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "namespaces.imich")
}

// TestConcurrentStartsLeaveOneWindow starts the window from several processes at
// once (here: goroutines with their own command trees): however the requests
// interleave, exactly one maintenance silence remains, and it is one of those the
// starts reported. (Starts whose silences Alertmanager created in the same
// millisecond may report different IDs: each reports what it saw.)
func TestConcurrentStartsLeaveOneWindow(t *testing.T) {
	srv, _ := amtest.Start(t)
	const n = 4
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r := plugintest.Run(t, "--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h")
			ids[i], errs[i] = strings.TrimSpace(r.Stdout), r.Err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	ws := windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Contains(t, ids, am.SilenceID(ws[0]))
}

func TestBadInputChangesNothing(t *testing.T) {
	srv, _ := amtest.Start(t)
	require.NoError(t, plugintest.Run(t, "--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h", "-c", "running").Err)
	tests := map[string]struct {
		args []string
		want string
	}{
		"no duration":        {args: []string{"start"}, want: "--duration is required"},
		"zero duration":      {args: []string{"start", "-d", "0h"}, want: "must be greater than 0"},
		"negative duration":  {args: []string{"start", "-d", "-2h"}, want: `invalid argument "-2h" for "-d, --duration" flag: must be greater than 0`},
		"bad matcher":        {args: []string{"start", "-d", "1h", "namespace=~("}, want: "invalid matcher"},
		"matches everything": {args: []string{"start", "-d", "1h", `namespace=~".*"`}, want: "would silence every alert"},
		"empty author":       {args: []string{"start", "-d", "1h", "--author", ""}, want: "--author"},
		"status format":      {args: []string{"status", "-o", "xml"}, want: "unsupported output format"},
		"stop with args":     {args: []string{"stop", "now"}, want: "unknown command"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := amtest.Silences(t, srv.URL)
			r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "maintenance"}, tc.args...)...)
			require.Error(t, r.Err)
			assert.Equal(t, exitcode.Usage, r.Code)
			assert.Contains(t, r.Err.Error(), tc.want)
			assert.Equal(t, before, amtest.Silences(t, srv.URL))
		})
	}
	r := plugintest.Run(t, "--alertmanager-url", amtest.ClosedURL(t), "maintenance", "start", "-d", "1h")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "cannot reach Alertmanager")
}
