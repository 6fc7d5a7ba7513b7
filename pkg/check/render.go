package check

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// TextOptions tune the text report.
type TextOptions struct {
	// Color marks statuses with ANSI colours (only for a terminal, never with NO_COLOR).
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
)

func (s Status) colored(on bool) string {
	if !on {
		return s.Symbol()
	}
	switch s {
	case StatusOK:
		return ansiGreen + s.Symbol() + ansiReset
	case StatusWarning:
		return ansiYellow + s.Symbol() + ansiReset
	}
	return ansiRed + s.Symbol() + ansiReset
}

// WriteText writes the report for a person: one line per check under its category,
// with the hint and runbook under every warning and failure, and a summary.
func (r *Report) WriteText(w io.Writer, o TextOptions) error {
	width := 0
	for _, c := range r.Checks() {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for i, cat := range r.Categories {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(cat.Name + "\n")
		for _, c := range cat.Checks {
			fmt.Fprintf(&b, "  %s %-*s  %s\n", c.Status.colored(o.Color), width, c.Name, indentRest(output.Escape(c.Message), 6+width))
			if c.Status == StatusOK {
				continue
			}
			if c.Hint != "" {
				fmt.Fprintf(&b, "    %*s  hint: %s\n", width, "", indentRest(output.Escape(c.Hint), 12+width))
			}
			if c.Runbook != "" {
				fmt.Fprintf(&b, "    %*s  runbook: kubectl picluster runbook run %s\n", width, "", c.Runbook)
			}
		}
	}
	ok, warnings, failures := r.Counts()
	verdict := "all passed"
	switch {
	case !r.Success:
		verdict = "FAILED"
	case warnings > 0 || failures > 0:
		verdict = "passed" // with warnings (or failures --fail-on-warning does not count)
	}
	fmt.Fprintf(&b, "\n%s: %s\n", CountLine(ok, warnings, failures)+" in "+r.Duration.Round(time.Millisecond).String(), verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

// indentRest indents every line after the first by n spaces.
func indentRest(s string, n int) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+strings.Repeat(" ", n))
}

// Metric names of the textfile.
const (
	MetricSuccess  = "picluster_check_success"
	MetricWarning  = "picluster_check_warning"
	MetricDuration = "picluster_check_duration_seconds"
	MetricLastRun  = "picluster_check_last_run_timestamp_seconds"
)

// MetricFamilies returns the report as Prometheus metrics, for node-exporter's
// textfile collector: per check whether it passed, warned and how long it took,
// and when the run ended.
func (r *Report) MetricFamilies(now time.Time) []*dto.MetricFamily {
	gauge := dto.MetricType_GAUGE.Enum()
	fam := func(name, help string) *dto.MetricFamily {
		return &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: gauge}
	}
	success := fam(MetricSuccess, "Whether the check passed (1) or failed (0) in the last run of kubectl picluster check.")
	warning := fam(MetricWarning, "Whether the check ended with a warning in the last run.")
	duration := fam(MetricDuration, "How long the check took in the last run.")
	for _, cat := range r.Categories {
		for _, c := range cat.Checks {
			labels := []*dto.LabelPair{
				{Name: proto.String("category"), Value: proto.String(cat.Name)},
				{Name: proto.String("check"), Value: proto.String(c.Name)},
			}
			success.Metric = append(success.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(boolFloat(r.Passed(c)))}})
			warning.Metric = append(warning.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(boolFloat(c.Status == StatusWarning))}})
			duration.Metric = append(duration.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(c.Duration.Seconds())}})
		}
	}
	lastRun := fam(MetricLastRun, "When kubectl picluster check last ran, as a Unix time.")
	lastRun.Metric = []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(float64(now.UnixMilli()) / 1000)}}}
	return []*dto.MetricFamily{success, warning, duration, lastRun}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteTextfile writes the report's metrics to path atomically: to a temporary file
// in the same directory (whose name does not end in .prom, so the collector skips
// it), then renamed over path, so the collector never reads half a file.
func (r *Report) WriteTextfile(path string, now time.Time) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write textfile %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write textfile %s: %w", path, err)
		}
	}()
	for _, mf := range r.MetricFamilies(now) {
		if _, err := expfmt.MetricFamilyToText(tmp, mf); err != nil {
			return err
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CountLine is the tally of a run: "5 checks: 4 ok, 1 warning, 0 failed".
func CountLine(ok, warnings, failures int) string {
	return fmt.Sprintf("%s: %d ok, %s, %d failed", output.Count(ok+warnings+failures, "check"), ok, output.Count(warnings, "warning"), failures)
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func hasHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

func failVerb(n int) string {
	if n == 1 {
		return "fails"
	}
	return "fail"
}

func doVerb(n int) string {
	if n == 1 {
		return "does"
	}
	return "do"
}
