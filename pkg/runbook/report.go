package runbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// PrintStepHeader writes the line that announces a step before it runs.
func PrintStepHeader(w io.Writer, r StepResult) {
	what := r.Title
	if what == "" {
		what = r.Kind + " step"
	}
	if r.Mutating {
		what += " [changes the cluster]"
	}
	prompt := "$ "
	if r.Kind == KindPromQL {
		prompt = "promql> "
	}
	fmt.Fprintf(w, "%s · %s\n  %s%s\n", r.Section, what, prompt, strings.Join(strings.Fields(r.Command), " "))
}

// statusMark is the mark of a step's outcome.
var statusMark = map[string]string{
	StatusOK:       "✓ ok",
	StatusProblem:  "× problem still present",
	StatusError:    "× error",
	StatusSkipped:  "- skipped",
	StatusDeclined: "- not run",
}

// PrintStepResult writes a step's outcome, after its output, indented, unless
// that was written live already (Runner.Live).
func PrintStepResult(w io.Writer, r StepResult, withOutput bool) {
	for _, l := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
		if l != "" && withOutput {
			fmt.Fprintf(w, "    %s\n", output.Escape(l))
		}
	}
	line := "  " + statusMark[r.Status]
	if r.Reason != "" {
		line += ": " + output.Escape(oneLine(r.Reason))
	}
	fmt.Fprintf(w, "%s (%.1fs)\n\n", line, r.Seconds)
}

// PrintSummary writes the last line of a run: how many steps did what.
func PrintSummary(w io.Writer, rep *Report) {
	counts := map[string]int{}
	for _, s := range rep.Steps {
		counts[s.Status]++
	}
	var parts []string
	for _, st := range []string{StatusOK, StatusProblem, StatusError, StatusSkipped, StatusDeclined} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	verdict := "nothing found wrong"
	switch rep.ExitCode {
	case 1:
		verdict = "the problem is still present"
	case 2:
		verdict = "a step failed"
	}
	fmt.Fprintf(w, "runbook %s: %d steps: %s: %s\n", rep.Runbook, len(rep.Steps), strings.Join(parts, ", "), verdict)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// liveWriter writes what a step prints as it comes, indented and escaped, so
// that a long step (a backup followed to its end) and the questions a step asks
// itself are seen at once.
type liveWriter struct {
	w       io.Writer
	atStart bool
}

func newLiveWriter(w io.Writer) *liveWriter { return &liveWriter{w: w, atStart: true} }

func (l *liveWriter) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, r := range output.Escape(string(p)) {
		if l.atStart {
			b.WriteString("    ")
			l.atStart = false
		}
		b.WriteRune(r)
		l.atStart = r == '\n'
	}
	if _, err := io.WriteString(l.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// end finishes a last line without a line feed.
func (l *liveWriter) end() {
	if !l.atStart {
		_, _ = io.WriteString(l.w, "\n")
		l.atStart = true
	}
}
