package runbook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Plugin runs the plugin's own commands for picluster steps; the command
// package hands one in (the domain package does not know the command tree).
type Plugin interface {
	// Check tells whether args (without "kubectl picluster") name a command of
	// the plugin and its flags parse, and whether it changes anything, without
	// running it.
	Check(args []string) (mutates bool, err error)
	// Run runs the command, printing to out; its error carries the exit code
	// (exitcode.Code): 1 means what it checked is failing.
	Run(ctx context.Context, args []string, out io.Writer) error
}

// Querier runs instant PromQL queries (*prometheus.Client is one).
type Querier interface {
	Vector(ctx context.Context, query string, now time.Time) (model.Vector, error)
}

// The outcome of one step.
const (
	// StatusOK: the step ran and found nothing wrong (or did what it does).
	StatusOK = "ok"
	// StatusProblem: the step ran and found the problem still present.
	StatusProblem = "problem"
	// StatusError: the step could not run or failed.
	StatusError = "error"
	// StatusSkipped: the step did not run (--read-only, or a label it needs is missing).
	StatusSkipped = "skipped"
	// StatusDeclined: the operator answered no to a mutating step.
	StatusDeclined = "declined"
)

// StepResult is what one step did.
type StepResult struct {
	Step
	// Command is the step as it ran (templates filled), or its query.
	Command string `json:"command"`
	// Status is ok, problem, error, skipped or declined.
	Status string `json:"status"`
	// Output is what the step printed (a query's samples, one per line).
	Output string `json:"output,omitempty"`
	// Reason says why the step is a problem, an error or skipped.
	Reason string `json:"reason,omitempty"`
	// Seconds is how long it ran.
	Seconds float64 `json:"seconds"`
}

// Report is the outcome of one `runbook run`.
type Report struct {
	// Runbook is the runbook's name.
	Runbook string `json:"runbook"`
	// Labels are the labels the steps were filled with.
	Labels map[string]string `json:"labels"`
	// FromAlert says where the labels came from: the firing alert's fingerprint, or empty.
	FromAlert string `json:"fromAlert,omitempty"`
	// Steps are the steps in order.
	Steps []StepResult `json:"steps"`
	// ExitCode is the run's exit code: 2 a step errored, 1 a step found the
	// problem still present, else 0.
	ExitCode int `json:"exitCode"`
}

// prepared is a step checked and filled, ready to run.
type prepared struct {
	step    Step
	command string
	args    []string
	kube    *KubectlCommand
	cond    *Condition
	missing []string
}

// Runner runs a runbook's steps.
type Runner struct {
	// Plugin runs picluster steps.
	Plugin Plugin
	// Kube runs kubectl steps.
	Kube *Kube
	// Prometheus answers promql steps.
	Prometheus Querier
	// Data fills the templates.
	Data Data
	// ReadOnly skips every mutating step.
	ReadOnly bool
	// Yes runs mutating steps without asking.
	Yes bool
	// Ask asks whether to run a mutating step (the prompt shows the command);
	// nil declines them all.
	Ask func(ctx context.Context, prompt string) (bool, error)
	// Started and Done are called around each step (progress output).
	Started func(r StepResult)
	Done    func(r StepResult)
	// Live, when set, receives what each step prints as it prints it (indented).
	Live io.Writer
}

// Check checks every step of d against data without running anything: the
// templates fill, picluster steps name a real command with valid flags (plugin),
// kubectl steps are read verbs the runner implements (or a marked mutation),
// promql steps parse, problem conditions parse, Diagnosis only reads. A step
// whose labels are missing is not an error (it is skipped when run).
func Check(d *Doc, data Data, plugin Plugin) error {
	_, err := prepare(d, data, plugin)
	return err
}

func prepare(d *Doc, data Data, plugin Plugin) ([]prepared, error) {
	var out []prepared
	var errs []error
	for _, s := range d.Steps {
		p, err := prepareStep(s, data, plugin)
		if err != nil {
			errs = append(errs, fmt.Errorf("runbook %s line %d (%s step): %w", d.Name, s.Line, s.Kind, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func prepareStep(s Step, data Data, plugin Plugin) (prepared, error) {
	p := prepared{step: s}
	if s.Section != SectionDiagnosis && s.Section != SectionMitigation {
		return p, fmt.Errorf("a step belongs in %s or %s, not in %q", SectionDiagnosis, SectionMitigation, s.Section)
	}
	missing, err := MissingLabels(s.Text, data)
	if err != nil {
		return p, err
	}
	filled := data
	if len(missing) > 0 {
		// check the step with placeholders: it is still checked, and skipped when run
		p.missing = missing
		filled.Labels = map[string]string{}
		for k, v := range data.Labels {
			filled.Labels[k] = v
		}
		for _, m := range missing {
			filled.Labels[m] = "placeholder-" + strings.ReplaceAll(m, "_", "-")
		}
	}
	text, err := Expand(s.Text, filled)
	if err != nil {
		return p, err
	}
	// the attributes are templates too (a threshold from the settings)
	if p.step.Title, err = Expand(s.Title, filled); err != nil {
		return p, fmt.Errorf("title: %w", err)
	}
	if p.step.Problem, err = Expand(s.Problem, filled); err != nil {
		return p, fmt.Errorf("problem: %w", err)
	}
	switch s.Kind {
	case KindPromQL:
		p.command = strings.TrimSpace(text)
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(p.command); err != nil {
			return p, fmt.Errorf("query %q: %w", p.command, err)
		}
		if p.step.Problem != "" {
			c, err := ParseCondition(p.step.Problem)
			if err != nil {
				return p, err
			}
			p.cond = &c
		}
	case KindKubectl:
		words, err := commandLine(s.Kind, text)
		if err != nil {
			return p, err
		}
		p.command = "kubectl " + shellJoin(words)
		if p.kube, err = ParseKubectl(words); err != nil {
			return p, err
		}
		if p.kube.Mutates() != s.Mutating {
			return p, fmt.Errorf("%s: mark a step mutating exactly when it changes something (%s)", p.command, map[bool]string{true: "it does", false: "it only reads"}[p.kube.Mutates()])
		}
	case KindPicluster:
		words, err := commandLine(s.Kind, text)
		if err != nil {
			return p, err
		}
		p.args, p.command = words, "kubectl picluster "+shellJoin(words)
		if plugin != nil {
			mutates, err := plugin.Check(words)
			if err != nil {
				return p, fmt.Errorf("%s: %w", p.command, err)
			}
			if mutates != s.Mutating {
				return p, fmt.Errorf("%s: mark a step mutating exactly when it changes something (%s)", p.command, map[bool]string{true: "it does", false: "it only reads"}[mutates])
			}
		}
	}
	if s.Mutating && s.Section == SectionDiagnosis {
		return p, fmt.Errorf("%s: a Diagnosis step only reads; put what changes things under %s", p.command, SectionMitigation)
	}
	return p, nil
}

// shellJoin quotes words that need it, for showing a command.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\"'$`\\|&;<>()*?[]{}!#~") {
			w = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}

// Run checks every step first (a bad step is a runbook error and nothing runs),
// then runs them in order: read-only steps directly, mutating ones after asking
// (skipped with ReadOnly, run without asking with Yes).
func (r *Runner) Run(ctx context.Context, d *Doc) (*Report, error) {
	steps, err := prepare(d, r.Data, r.Plugin)
	if err != nil {
		return nil, exitcode.BadUsage(err)
	}
	rep := &Report{Runbook: d.Name, Labels: r.Data.Labels}
	for _, p := range steps {
		if ctx.Err() != nil {
			break
		}
		res := StepResult{Step: p.step, Command: p.command}
		if r.Started != nil {
			r.Started(res)
		}
		began := time.Now()
		r.runStep(ctx, p, &res)
		res.Seconds = time.Since(began).Seconds()
		rep.Steps = append(rep.Steps, res)
		if r.Done != nil {
			r.Done(res)
		}
	}
	rep.ExitCode = exitCode(rep.Steps)
	return rep, nil
}

func exitCode(steps []StepResult) int {
	code := exitcode.OK
	for _, s := range steps {
		switch s.Status {
		case StatusError:
			return exitcode.Usage
		case StatusProblem:
			code = exitcode.Failure
		}
	}
	return code
}

func (r *Runner) runStep(ctx context.Context, p prepared, res *StepResult) {
	if len(p.missing) > 0 {
		res.Status = StatusSkipped
		res.Reason = fmt.Sprintf("needs the alert's label %s: no firing alert has it; pass --alert-labels %s=...",
			strings.Join(p.missing, ", "), p.missing[0])
		return
	}
	if p.step.Mutating {
		switch {
		case r.ReadOnly:
			res.Status, res.Reason = StatusSkipped, "changes the cluster: not run with --read-only"
			return
		case !r.Yes:
			ok := false
			if r.Ask != nil {
				var err error
				ok, err = r.Ask(ctx, "Run `"+p.command+"`? [y/N] ")
				if err != nil {
					res.Status, res.Reason = StatusDeclined, "no answer: "+err.Error()
					return
				}
			}
			if !ok {
				res.Status, res.Reason = StatusDeclined, "not confirmed"
				return
			}
		}
	}
	var buf strings.Builder
	var out io.Writer = &buf
	if r.Live != nil {
		live := newLiveWriter(r.Live)
		defer live.end()
		out = io.MultiWriter(&buf, live)
	}
	var err error
	switch p.step.Kind {
	case KindPromQL:
		r.query(ctx, p, res)
		_, _ = io.WriteString(out, res.Output)
		return
	case KindKubectl:
		if r.Kube == nil {
			err = errors.New("no Kubernetes client")
			break
		}
		err = r.Kube.Run(ctx, p.kube, out)
	case KindPicluster:
		if r.Plugin == nil {
			err = errors.New("no plugin runner")
			break
		}
		err = r.Plugin.Run(ctx, p.args, out)
	}
	res.Output = buf.String()
	switch code := exitcode.Code(err); {
	case err == nil:
		res.Status = StatusOK
	case code == exitcode.Failure && p.step.Kind == KindPicluster:
		res.Status, res.Reason = StatusProblem, err.Error()
	default:
		res.Status, res.Reason = StatusError, fmt.Sprintf("exit %d: %v", code, err)
	}
}

func (r *Runner) query(ctx context.Context, p prepared, res *StepResult) {
	if r.Prometheus == nil {
		res.Status, res.Reason = StatusError, "no Prometheus client"
		return
	}
	vec, err := r.Prometheus.Vector(ctx, p.command, time.Now())
	if err != nil {
		res.Status, res.Reason = StatusError, err.Error()
		return
	}
	sort.Slice(vec, func(i, j int) bool { return vec[i].Metric.String() < vec[j].Metric.String() })
	var b strings.Builder
	values := make([]float64, len(vec))
	for i, s := range vec {
		values[i] = float64(s.Value)
		fmt.Fprintf(&b, "%s  %s\n", s.Value, s.Metric)
	}
	if len(vec) == 0 {
		b.WriteString("(no samples)\n")
	}
	res.Output = b.String()
	res.Status = StatusOK
	if p.cond != nil && p.cond.Present(values) {
		res.Status = StatusProblem
		res.Reason = "the problem is present: " + describeCondition(p.step.Problem, len(vec))
	}
}

func describeCondition(problem string, n int) string {
	switch strings.TrimSpace(problem) {
	case "any":
		return fmt.Sprintf("%d sample(s)", n)
	case "none":
		return "no sample"
	}
	return "a value is " + strings.TrimSpace(problem)
}
