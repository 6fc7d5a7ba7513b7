package targets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

// maxRSS is the bound on the whole process listing 1,000 targets, built
// the way releases are (stripped, -trimpath, no cgo): the binary's own pages count.
const maxRSS = 50 << 20

// maxGrowth bounds what listing 1,000 targets adds to the binary's own resident
// memory, so the bound keeps meaning something if the binary grows.
const maxGrowth = 16 << 20

// startScaledPrometheus starts a real Prometheus scraping n targets: static targets
// with distinct labels, all pointing at one small local exporter.
func startScaledPrometheus(tb testing.TB, n int) *servers.Prometheus {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE immich_queues_thumbnail_generation_active gauge\nimmich_queues_thumbnail_generation_active 0\n")
	})}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })

	var b strings.Builder
	b.WriteString("global: {scrape_interval: 10s, scrape_timeout: 5s}\nscrape_configs:\n- job_name: immich-metrics\n  static_configs:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - targets: [%q]\n    labels: {replica: \"r%04d\", namespace: immich, pod: \"immich-server-%04d\"}\n", l.Addr().String(), i, i)
	}
	p := servers.PrometheusT(tb, servers.Options{}, b.String(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(tb, proc.WaitFor(ctx, time.Second, func(ctx context.Context) (bool, error) {
		c, err := prometheusClient(p.URL)
		if err != nil {
			return false, err
		}
		ts, err := c.ActiveTargets(ctx)
		if err != nil || len(ts) != n {
			return false, nil
		}
		for _, t := range ts {
			if t.LastScrape.IsZero() {
				return false, nil
			}
		}
		return true, nil
	}), "Prometheus never scraped all %d targets", n)
	return p
}

func prometheusClient(u string) (*prometheus.Client, error) {
	parsed, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return prometheus.New(endpoint.Direct("Prometheus", parsed, 0))
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// buildPlugin builds the real binary once per test process, so its memory is
// measured without the test's own.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "picluster-bench-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "kubectl-picluster")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", buildPath, "./cmd/kubectl-picluster")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(tb, buildErr)
	return buildPath
}

// runBinary runs the plugin and returns its stdout, exit code, wall time and peak RSS.
// The peak comes from /usr/bin/time: the rusage Go's exec reports would include the
// test process's own memory, which the child shares until it execs.
func runBinary(tb testing.TB, bin string, args ...string) ([]byte, int, time.Duration, int64) {
	tb.Helper()
	timeBin := proc.RequireBinary(tb, "time")
	rssFile := filepath.Join(tb.TempDir(), "rss")
	var out, errOut bytes.Buffer
	cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HOME="+tb.TempDir())
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		require.True(tb, ok, "run %s: %v: %s", bin, err, errOut.String())
		code = exit.ExitCode()
	}
	raw, err := os.ReadFile(rssFile)
	require.NoError(tb, err)
	lines := strings.Fields(string(raw)) // "Command exited with non-zero status N" may come first
	require.NotEmpty(tb, lines)
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	require.NoError(tb, err, "peak RSS from time: %q", raw)
	return out.Bytes(), code, took, kb * 1024
}

// TestTargetsAtScale lists 1,000 real targets with the real binary and keeps it
// under maxRSS, and its growth over the binary's baseline under maxGrowth.
func TestTargetsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus with 1,000 targets and builds the binary")
	}
	p := startScaledPrometheus(t, 1000)
	bin := buildPlugin(t)
	_, _, _, baseline := runBinary(t, bin, "version", "--client")
	for _, format := range []string{"json", "table"} {
		out, code, took, rss := runBinary(t, bin, "--prometheus-url", p.URL, "targets", "-o", format)
		require.Equal(t, 0, code)
		t.Logf("targets -o %s over 1000 targets: %s, peak RSS %.1f MiB (version --client: %.1f MiB), %d bytes out",
			format, took.Round(time.Millisecond), mib(rss), mib(baseline), len(out))
		require.Less(t, rss-baseline, int64(maxGrowth), "peak RSS of targets -o %s over the binary's baseline", format)
		require.Less(t, rss, int64(maxRSS), "peak RSS of targets -o %s", format)
		if format == "json" {
			var ts []prometheus.Target
			require.NoError(t, json.Unmarshal(out, &ts))
			require.Len(t, ts, 1000)
		} else {
			require.Equal(t, 1001, bytes.Count(out, []byte("\n")))
		}
	}
}

// BenchmarkTargets times `targets -o json` (the real binary, a real Prometheus) at
// growing numbers of targets, and reports the peak RSS and the time per target.
func BenchmarkTargets(b *testing.B) {
	bin := buildPlugin(b)
	for _, n := range []int{100, 1000, 3000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			p := startScaledPrometheus(b, n)
			_, _, _, baseline := runBinary(b, bin, "version", "--client")
			var peak int64
			b.ResetTimer()
			for b.Loop() {
				_, code, _, rss := runBinary(b, bin, "--prometheus-url", p.URL, "targets", "-o", "json")
				if code != 0 {
					b.Fatalf("exit %d", code)
				}
				peak = max(peak, rss)
			}
			b.ReportMetric(mib(peak), "MiB-peak-rss")
			b.ReportMetric(mib(peak-baseline), "MiB-over-baseline")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/target")
		})
	}
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
