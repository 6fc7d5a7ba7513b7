package runbook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

// RunOptions are the options of `runbook run`.
type RunOptions struct {
	// ReadOnly is --read-only, Yes is --yes.
	ReadOnly bool
	Yes      bool
	// AlertLabels is --alert-labels.
	AlertLabels map[string]string
	// PrintFlags are -o text|json|yaml|....
	PrintFlags *cmdutil.PrintFlags

	name    string
	global  []string
	f       *factory.Factory
	streams genericiooptions.IOStreams
	newRoot NewRoot
	stdin   io.Reader // the unbuffered stdin, to tell a terminal
}

func newCmdRun(f *factory.Factory, streams genericiooptions.IOStreams, newRoot NewRoot) *cobra.Command {
	// one buffered reader for every answer (and the steps' own questions): a
	// reader per question would swallow the answers piped after the first
	stdin := streams.In
	streams.In = bufio.NewReader(streams.In)
	o := &RunOptions{PrintFlags: cmdutil.NewPrintFlags(output.Text), f: f, streams: streams, newRoot: newRoot, stdin: stdin}
	cmd := &cobra.Command{
		Use:   "run [NAME|URL] [--read-only] [--yes] [--alert-labels k=v,...] [-o text|json]",
		Short: "Run a runbook's diagnosis against the live cluster, then offer its mitigations",
		Long: `Run a runbook: every diagnosis step (the plugin's own commands, PromQL
queries, kubectl reads) runs against the live cluster and its result is printed
inline; then the mitigations are offered one by one. A step that changes
anything shows the exact command and asks first (y/N); --read-only skips them,
--yes runs them without asking. Every step is checked before the first runs.

The steps' labels ({{ .Labels.namespace }}) come from the runbook's defaults
(the settings), then from the alert of that name firing in Alertmanager, then
from --alert-labels.

Without a name, the runbooks of the alerts firing now in Alertmanager are the
choice: exactly one runs at once; several are listed and, when stdin is a
terminal, asked for; otherwise the list is printed and the exit code is 2
(name one).

Exit 0 when every diagnosis step ran and found nothing wrong, 1 when a step
found the problem still present, 2 on a runbook or step error.`,
		Example: cmdutil.Examples(
			"kubectl picluster runbook run ImmichThumbnailQueueStuck --read-only",
			"kubectl picluster runbook run BackupJobFailed --alert-labels job_name=postgres-backup-29000000",
			"kubectl picluster runbook run",
			"kubectl picluster runbook run BackupStale --yes -o json",
		),
		Args: cmdutil.Args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return runbook.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.PrintFlags.Validate(); err != nil {
				return err
			}
			if o.ReadOnly && o.Yes {
				return exitcode.BadUsage(errors.New("--read-only and --yes exclude each other"))
			}
			if len(args) == 1 {
				o.name = args[0]
			}
			o.global = globalFlags(c.Root())
			cmdutil.OnInterrupt(c, "the steps that ran are reported above; a mutating step cut short may have done part of its work")
			return o.Run(c.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.ReadOnly, "read-only", false, "Skip every step that changes the cluster")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Run the steps that change the cluster without asking")
	fl.StringToStringVar(&o.AlertLabels, "alert-labels", nil, "Labels for the steps, over the firing alert's (k=v,k2=v2)")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// firingLookupTimeout bounds the question for the firing alert's labels.
const firingLookupTimeout = 5 * time.Second

// candidate is a firing alert with a runbook.
type candidate struct {
	Runbook string            `json:"runbook"`
	Labels  map[string]string `json:"labels"`
	Since   time.Time         `json:"since"`
}

// Run picks the runbook, fills its labels and runs it.
func (o *RunOptions) Run(ctx context.Context) error {
	s, err := o.f.Settings()
	if err != nil {
		return err
	}
	var doc *runbook.Doc
	var alertLabels map[string]string
	if o.name == "" {
		c, err := o.choose(ctx)
		if err != nil || c == nil {
			return err
		}
		o.name, alertLabels = c.Runbook, c.Labels
	}
	doc, err = runbook.Load(o.name)
	if err != nil {
		return exitcode.BadUsage(err)
	}
	labels, err := doc.Front.DefaultLabels(s)
	if err != nil {
		return exitcode.BadUsage(err)
	}
	if alertLabels == nil && doc.Front.Alert != "" {
		alertLabels = o.firingLabels(ctx, doc.Front.Alert)
	}
	for k, v := range alertLabels {
		labels[k] = v
	}
	for k, v := range o.AlertLabels {
		labels[k] = v
	}
	r, err := o.runner(labels)
	if err != nil {
		return err
	}
	text := !o.PrintFlags.Structured()
	if text {
		r.Started = func(res runbook.StepResult) { runbook.PrintStepHeader(o.streams.Out, res) }
		r.Done = func(res runbook.StepResult) { runbook.PrintStepResult(o.streams.Out, res, false) }
		r.Live = o.streams.Out
	}
	rep, err := r.Run(ctx, doc)
	if err != nil {
		return err
	}
	if text {
		runbook.PrintSummary(o.streams.Out, rep)
	} else if err := o.PrintFlags.Print(o.streams.Out, rep, nil); err != nil {
		return err
	}
	switch rep.ExitCode {
	case exitcode.Failure:
		return exitcode.Failed(fmt.Errorf("runbook %s: the problem is still present", rep.Runbook))
	case exitcode.Usage:
		return exitcode.BadUsage(fmt.Errorf("runbook %s: a step failed", rep.Runbook))
	}
	return nil
}

// runner builds the step runner from the factory's clients.
func (o *RunOptions) runner(labels map[string]string) (*runbook.Runner, error) {
	st, err := o.f.Settings()
	if err != nil {
		return nil, err
	}
	kube, err := o.f.KubeClient()
	if err != nil {
		return nil, err
	}
	ns, _, err := o.f.Namespace()
	if err != nil {
		return nil, err
	}
	r := &runbook.Runner{
		Plugin:     &plugin{newRoot: o.newRoot, global: o.global, in: o.streams.In},
		Kube:       &runbook.Kube{Getter: o.f.Flags(), Client: kube, Namespace: ns},
		Prometheus: lazyProm{o.f},
		Data:       runbook.Data{Labels: labels, Settings: st},
		ReadOnly:   o.ReadOnly,
		Yes:        o.Yes,
		Ask: func(ctx context.Context, prompt string) (bool, error) {
			fmt.Fprint(o.streams.ErrOut, prompt)
			line, err := cmdutil.ReadLine(ctx, o.streams.In)
			if err != nil && line == "" {
				fmt.Fprintln(o.streams.ErrOut)
				if errors.Is(err, io.EOF) {
					return false, nil
				}
				return false, err
			}
			ans := strings.ToLower(strings.TrimSpace(line))
			return ans == "y" || ans == "yes", nil
		},
	}
	return r, nil
}

// lazyProm builds the Prometheus client on the first query only.
type lazyProm struct{ f *factory.Factory }

func (l lazyProm) Vector(ctx context.Context, q string, now time.Time) (model.Vector, error) {
	p, err := l.f.Prometheus()
	if err != nil {
		return nil, err
	}
	return p.Vector(ctx, q, now)
}

// firingLabels returns the labels of the alert named alert firing now, or nil;
// Alertmanager being unreachable is a warning, not an error: the runbook still
// runs with its defaults.
func (o *RunOptions) firingLabels(ctx context.Context, alert string) map[string]string {
	// the labels are a help, not a need: an Alertmanager that does not answer
	// soon must not hold up the diagnosis at 3 a.m.
	ctx, cancel := context.WithTimeout(ctx, firingLookupTimeout)
	defer cancel()
	cands, err := o.firing(ctx)
	if err != nil {
		fmt.Fprintf(o.streams.ErrOut, "Warning: cannot ask Alertmanager for the firing %s alert, using the runbook's default labels: %s\n", alert, output.ErrorText(err))
		return nil
	}
	var mine []candidate
	for _, c := range cands {
		if c.Labels["alertname"] == alert {
			mine = append(mine, c)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	if len(mine) > 1 {
		fmt.Fprintf(o.streams.ErrOut, "%d %s alerts are firing; using the newest (%s); pick another with --alert-labels\n", len(mine), alert, labelString(mine[0].Labels))
	} else {
		fmt.Fprintf(o.streams.ErrOut, "Using the labels of the firing alert: %s\n", labelString(mine[0].Labels))
	}
	return mine[0].Labels
}

// firing returns the active alerts that have a runbook, newest first.
func (o *RunOptions) firing(ctx context.Context) ([]candidate, error) {
	am, err := o.f.Alertmanager()
	if err != nil {
		return nil, err
	}
	alerts, err := am.Alerts(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, a := range alerts {
		if a == nil || a.Status == nil || a.Status.State == nil || *a.Status.State != models.AlertStatusStateActive {
			continue
		}
		name, err := runbook.Resolve(a.Labels["alertname"])
		if err != nil && a.Annotations["runbook_url"] != "" {
			name, err = runbook.Resolve(a.Annotations["runbook_url"])
		}
		if err != nil || name == "" {
			continue
		}
		c := candidate{Runbook: name, Labels: map[string]string(a.Labels)}
		if a.StartsAt != nil {
			c.Since = time.Time(*a.StartsAt)
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].Since.Before(out[i].Since) })
	return out, nil
}

// choose picks the runbook to run when none is named: the one firing alert
// with a runbook; with several, the operator's choice at a terminal, else the
// list and exit 2. Nothing firing: nil (exit 0).
func (o *RunOptions) choose(ctx context.Context) (*candidate, error) {
	cands, err := o.firing(ctx)
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("find the alerts firing now: %w", err))
	}
	switch {
	case len(cands) == 0:
		fmt.Fprintln(o.streams.ErrOut, "No alert with a runbook is firing in Alertmanager; name a runbook (kubectl picluster runbook list).")
		return nil, nil
	case len(cands) == 1:
		fmt.Fprintf(o.streams.ErrOut, "Firing: %s (%s)\n", cands[0].Runbook, labelString(cands[0].Labels))
		return &cands[0], nil
	}
	printList := func(w io.Writer) error {
		rows := make([][]string, len(cands))
		for i, c := range cands {
			rows[i] = []string{strconv.Itoa(i + 1), c.Runbook, c.Since.Format(time.RFC3339), labelString(c.Labels)}
		}
		return output.PrintTable(w, []string{"#", "RUNBOOK", "FIRING SINCE", "LABELS"}, rows)
	}
	if !isTerminal(o.stdin) {
		if err := o.PrintFlags.Print(o.streams.Out, cands, printList); err != nil {
			return nil, err
		}
		return nil, exitcode.BadUsage(fmt.Errorf("%d alerts with runbooks are firing: run one with kubectl picluster runbook run NAME", len(cands)))
	}
	if err := printList(o.streams.ErrOut); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.streams.ErrOut, "Which runbook? [1-%d] ", len(cands))
	line, err := cmdutil.ReadLine(ctx, o.streams.In)
	if err != nil && line == "" {
		return nil, exitcode.BadUsage(fmt.Errorf("no runbook chosen: %w", err))
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(cands) {
		return nil, exitcode.BadUsage(fmt.Errorf("no runbook chosen: %q is not a number from 1 to %d", strings.TrimSpace(line), len(cands)))
	}
	return &cands[n-1], nil
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(parts, ", ")
}

// isTerminal tells whether r or w is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
