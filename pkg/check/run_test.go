package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func fixed(category, name string, r Result) Check {
	return Check{Category: category, Name: name, Run: func(context.Context) Result { return r }}
}

// sleepingChecks are n checks of 200 ms each; with a barrier each check first waits until
// all n have started, so the checks pass only when Run runs them all at once.
func sleepingChecks(n int, barrier bool) []Check {
	var entered atomic.Int32
	all := make(chan struct{})
	var checks []Check
	for i := range n {
		checks = append(checks, Check{Category: fmt.Sprintf("c%d", i%3), Name: fmt.Sprintf("n%d", i), Run: func(ctx context.Context) Result {
			if barrier {
				if entered.Add(1) == int32(n) {
					close(all)
				}
				select {
				case <-all:
				case <-ctx.Done():
					return Fail("", "", "only %d of %d checks ran at once", entered.Load(), n)
				}
			}
			time.Sleep(200 * time.Millisecond)
			return OK("fine")
		}})
	}
	return checks
}

func TestRunIsConcurrentAndKeepsOrder(t *testing.T) {
	const n = 20
	// Proven by the barrier, not by a time limit a loaded machine could miss; the wall
	// time is BenchmarkRunConcurrentChecks's.
	r := Run(context.Background(), sleepingChecks(n, true), RunOptions{Timeout: time.Minute})
	assert.True(t, r.Success, "20 checks of 200 ms each run at once: %v", r.Checks())
	assert.Equal(t, []string{"c0", "c1", "c2"}, []string{r.Categories[0].Name, r.Categories[1].Name, r.Categories[2].Name})
	assert.Equal(t, "n0", r.Categories[0].Checks[0].Name)
	assert.Equal(t, "n3", r.Categories[0].Checks[1].Name)
	for _, c := range r.Checks() {
		assert.GreaterOrEqual(t, c.Duration, 200*time.Millisecond)
	}
}

// BenchmarkRunConcurrentChecks reports Run's wall time for 20 checks of 200 ms each over
// one check's 200 ms: 1.0 is perfect concurrency, 20 would be one at a time.
func BenchmarkRunConcurrentChecks(b *testing.B) {
	const n, one = 20, 200 * time.Millisecond
	for b.Loop() {
		Run(context.Background(), sleepingChecks(n, false), RunOptions{})
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(one), "wall/check")
}

func TestRunTimesOutOneCheckAndPanicsAlone(t *testing.T) {
	checks := []Check{
		{Category: "a", Name: "hangs", Run: func(ctx context.Context) Result {
			<-ctx.Done()
			return Errored(ctx.Err(), "h", "", "wait for nothing")
		}},
		{Category: "a", Name: "panics", Run: func(context.Context) Result { panic("oops") }},
		fixed("b", "fine", OK("fine")),
	}
	r := Run(context.Background(), checks, RunOptions{Timeout: 100 * time.Millisecond})
	hangs, _ := r.Find("a", "hangs")
	assert.Equal(t, StatusFailure, hangs.Status)
	assert.Contains(t, hangs.Message, "deadline exceeded")
	panics, _ := r.Find("a", "panics")
	assert.Equal(t, StatusFailure, panics.Status)
	assert.Contains(t, panics.Message, "oops")
	fine, _ := r.Find("b", "fine")
	assert.Equal(t, StatusOK, fine.Status)
	assert.False(t, r.Success)
	assert.Equal(t, exitcode.Timeout, r.ExitCode())
}

func TestExitCode(t *testing.T) {
	conn := &endpoint.ConnectionError{Name: "Prometheus", Via: "http://127.0.0.1:1", Err: errors.New("connection refused")}
	urlErr := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/version", Err: errors.New("connection refused")}
	tests := map[string]struct {
		results       []Result
		failOnWarning bool
		want          int
	}{
		"all ok":                      {results: []Result{OK("a"), OK("b")}, want: 0},
		"warning passes":              {results: []Result{OK("a"), Warn("h", "", "w")}, want: 0},
		"warning fails when asked":    {results: []Result{OK("a"), Warn("h", "", "w")}, failOnWarning: true, want: 1},
		"failure":                     {results: []Result{Fail("h", "", "f"), OK("b")}, want: 1},
		"prometheus unreachable":      {results: []Result{Fail("h", "", "f"), Errored(conn, "h", "", "ask")}, want: 2},
		"api server unreachable":      {results: []Result{Errored(urlErr, "h", "", "ask")}, want: 2},
		"forbidden is a failed check": {results: []Result{Errored(errors.New("forbidden"), "h", "", "ask")}, want: 1},
		"timeout wins":                {results: []Result{Errored(conn, "h", "", "a"), Errored(context.DeadlineExceeded, "h", "", "b")}, want: 124},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var checks []Check
			for i, r := range tc.results {
				checks = append(checks, fixed("c", fmt.Sprint(i), r))
			}
			r := Run(context.Background(), checks, RunOptions{FailOnWarning: tc.failOnWarning})
			assert.Equal(t, tc.want, r.ExitCode())
			assert.Equal(t, tc.want == 0, r.Success)
		})
	}
}

func TestFilter(t *testing.T) {
	checks := All(&Env{})
	got, err := Filter(checks, []string{"rules", "backup"})
	require.NoError(t, err)
	assert.Equal(t, []string{"rules", "backup"}, Categories(got))
	_, err = Filter(checks, []string{"rule"})
	require.Error(t, err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err))
	assert.Contains(t, err.Error(), "kubernetes monitoring immich rules alerting secrets backup")
}

// sampleReport is a report with every status, fixed durations.
func sampleReport(t *testing.T) *Report {
	r := Run(context.Background(), []Check{
		fixed("kubernetes", "api-server", OK("the API server answers (Kubernetes v1.37.2)")),
		fixed("immich", "targets", Fail("kubectl picluster targets --job 'immich-metrics'", RunbookImmichServerDown,
			"1 of 2 targets of job immich-metrics is down: 10.0.0.7:8082 (connection refused)")),
		fixed("rules", "alert-series", Warn("compare the metric names", "", "A can never fire: a has no series\nB can never fire: b has no series")),
	}, RunOptions{})
	for ci := range r.Categories {
		for i := range r.Categories[ci].Checks {
			r.Categories[ci].Checks[i].Duration = 12 * time.Millisecond
		}
	}
	r.Duration = 15 * time.Millisecond
	r.Calls = &CallStats{Count: 3, Slowest: 9 * time.Millisecond, SlowestCall: "GET /api/v1/targets"}
	return r
}

func TestJSONGolden(t *testing.T) {
	b, err := json.MarshalIndent(sampleReport(t), "", "  ")
	require.NoError(t, err)
	golden(t, "report.json", append(b, '\n'))
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleReport(t).WriteText(&b, TextOptions{}))
	golden(t, "report.txt", b.Bytes())
	var colored bytes.Buffer
	require.NoError(t, sampleReport(t).WriteText(&colored, TextOptions{Color: true}))
	assert.Contains(t, colored.String(), "\x1b[31m×\x1b[0m")
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to write %s", path)
	assert.Equal(t, string(want), string(got))
}

func TestTextfileParsesBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "picluster.prom")
	require.NoError(t, os.WriteFile(path, []byte("old content"), 0o644))
	at := time.Unix(1764072000, 500_000_000)
	require.NoError(t, sampleReport(t).WriteTextfile(path, at))

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	require.NoError(t, err)

	success := families[MetricSuccess]
	require.NotNil(t, success)
	got := map[string]float64{}
	for _, m := range success.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["category"]+"/"+labels["check"]] = m.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{"kubernetes/api-server": 1, "immich/targets": 0, "rules/alert-series": 1}, got)
	assert.Equal(t, 1764072000.5, families[MetricLastRun].Metric[0].GetGauge().GetValue())
	assert.Len(t, families[MetricWarning].Metric, 3)
	assert.Len(t, families[MetricDuration].Metric, 3)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
	info, err := entries[0].Info()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestTextfileInAMissingDirFails(t *testing.T) {
	err := sampleReport(t).WriteTextfile(filepath.Join(t.TempDir(), "nope", "x.prom"), time.Now())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "write textfile"))
}

// Messages quote servers (an error body, a label): the text report escapes control
// characters (its own colours stay), -o json keeps them.
func TestTextEscapesServerText(t *testing.T) {
	r := Run(context.Background(), []Check{
		fixed("immich", "targets", Fail("hint \x1b]0;t\x07", "", "target down: \x1b[2Jerror\rbody")),
	}, RunOptions{})
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b, TextOptions{Color: true}))
	assert.Contains(t, b.String(), `target down: ^[[2Jerror\rbody`)
	assert.Contains(t, b.String(), "hint: hint ^[]0;t^G")
	assert.NotContains(t, b.String(), "\x07")
	assert.NotContains(t, b.String(), "\x1b[2J")
	assert.Contains(t, b.String(), "\x1b[31m×\x1b[0m", "the report's own colours")
	js, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(js), `target down: \u001b[2Jerror\rbody`)
}

// A run with warnings and no failures passes, and says so without "all".
func TestTextVerdictWithWarnings(t *testing.T) {
	r := Run(context.Background(), []Check{
		fixed("a", "one", OK("fine")),
		fixed("a", "two", Warn("", "", "so-so")),
	}, RunOptions{})
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b, TextOptions{}))
	assert.Regexp(t, `\n2 checks: 1 ok, 1 warning, 0 failed in \S+: passed\n$`, b.String())
}

// A check that says what it did does not repeat what the error already says.
func TestErroredSaysItsContextOnce(t *testing.T) {
	err := fmt.Errorf("list Prometheus targets: %w", errors.New(`Get "http://x/": EOF`))
	assert.Equal(t, `list Prometheus targets: Get "http://x/": EOF`, Errored(err, "", "", "list Prometheus targets").Message)
	assert.Equal(t, "read Service a/b: boom", Errored(errors.New("boom"), "", "", "read Service %s/%s", "a", "b").Message)
}
