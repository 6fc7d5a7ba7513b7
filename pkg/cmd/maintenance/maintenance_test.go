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
	assert.Contains(t, r.Stderr, `maintenance window for namespace="immich" already runs until `)
	assert.Contains(t, r.Stderr, "nothing changed")
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

	// Stop expires it; stopping again is fine.
	r = run("stop")
	require.NoError(t, r.Err)
	assert.Equal(t, id+"\n", r.Stdout)
	assert.Empty(t, windows(t, srv.URL))
	r = run("stop")
	require.NoError(t, r.Err)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, `No maintenance window for namespace="immich" is running`)
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
		"stop all and scope": {args: []string{"stop", "--all", "namespace=immich"}, want: "--all ends every window"},
		"stop bad matcher":   {args: []string{"stop", "namespace=~("}, want: "invalid matcher"},
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

// Windows are keyed by their scope (issue 16): a backup-jobs window starts beside the
// Immich one without touching it, each extends on its own, status lists both, and
// stop ends one scope, or all with --all.
func TestWindowsOfTwoScopesRunSideBySide(t *testing.T) {
	srv, _ := amtest.Start(t)
	amtest.PostAlerts(t, srv.URL,
		map[string]string{"alertname": "ImmichServerDown", "namespace": "immich"},
		map[string]string{"alertname": "BackupJobFailed", "namespace": "backup-jobs"},
	)
	run := func(args ...string) plugintest.Result {
		r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "maintenance"}, args...)...)
		require.NoError(t, r.Err, r.Stderr)
		return r
	}
	immich := strings.TrimSpace(run("start", "-d", "2h", "-c", "Immich upgrade").Stdout)
	immichWindow := byID(t, srv.URL, immich)
	backup := strings.TrimSpace(run("start", "-d", "30m", "namespace=backup-jobs").Stdout)
	assert.NotEqual(t, immich, backup)

	ws := windows(t, srv.URL)
	require.Len(t, ws, 2)
	got := byID(t, srv.URL, immich)
	assert.Equal(t, *immichWindow.Comment, *got.Comment, "the Immich window keeps its comment")
	assert.Equal(t, time.Time(*immichWindow.EndsAt), time.Time(*got.EndsAt), "and its end")
	assert.Equal(t, am.StateActive, am.State(got), "and stays active: Immich alerts stay muted")

	// each scope extends on its own
	r := run("start", "-d", "1h", "namespace=backup-jobs")
	assert.Equal(t, backup+"\n", r.Stdout)
	assert.Contains(t, r.Stderr, "maintenance window extended")
	assert.WithinDuration(t, time.Now().Add(time.Hour), time.Time(*byID(t, srv.URL, backup).EndsAt), 5*time.Second)
	assert.Equal(t, time.Time(*immichWindow.EndsAt), time.Time(*byID(t, srv.URL, immich).EndsAt))

	var st []am.MaintenanceStatus
	require.NoError(t, json.Unmarshal([]byte(run("status", "-o", "json").Stdout), &st))
	require.Len(t, st, 2, "status lists every window")
	muted := map[string]string{}
	for _, s := range st {
		require.Len(t, s.Covered, 1)
		muted[am.FormatAPIMatchers(s.Silence.Matchers)] = s.Covered[0].Labels["alertname"]
	}
	assert.Equal(t, map[string]string{`namespace="immich"`: "ImmichServerDown", `namespace="backup-jobs"`: "BackupJobFailed"}, muted)

	r = run("stop", "namespace=backup-jobs")
	assert.Equal(t, backup+"\n", r.Stdout)
	ws = windows(t, srv.URL)
	require.Len(t, ws, 1)
	assert.Equal(t, immich, am.SilenceID(ws[0]), "stopping one scope leaves the other")

	run("start", "-d", "1h", "namespace=backup-jobs")
	r = run("stop", "--all")
	assert.Len(t, strings.Fields(r.Stdout), 2)
	assert.Empty(t, windows(t, srv.URL))
}

// Concurrent starts of two scopes still leave exactly one window per scope.
func TestConcurrentStartsLeaveOneWindowPerScope(t *testing.T) {
	srv, _ := amtest.Start(t)
	scopes := [][]string{nil, {"namespace=backup-jobs"}}
	const perScope = 3
	var wg sync.WaitGroup
	errs := make([]error, 2*perScope)
	for i := range 2 * perScope {
		wg.Go(func() {
			args := append([]string{"--alertmanager-url", srv.URL, "maintenance", "start", "-d", "1h"}, scopes[i%2]...)
			errs[i] = plugintest.Run(t, args...).Err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	count := map[string]int{}
	for _, w := range windows(t, srv.URL) {
		count[am.FormatAPIMatchers(w.Matchers)]++
	}
	assert.Equal(t, map[string]int{`namespace="immich"`: 1, `namespace="backup-jobs"`: 1}, count)
}

func byID(t *testing.T, url, id string) *models.GettableSilence {
	t.Helper()
	for _, s := range amtest.Silences(t, url) {
		if am.SilenceID(s) == id {
			return s
		}
	}
	t.Fatalf("silence %s not in Alertmanager", id)
	return nil
}
