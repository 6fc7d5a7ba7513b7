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

// PrintStepResult writes a step's output, indented, and its outcome.
func PrintStepResult(w io.Writer, r StepResult) {
	for _, l := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
		if l != "" {
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
