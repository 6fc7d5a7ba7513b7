// Package check wires `kubectl picluster check`: every check of the installed
// setup, for a person (text) or for cron (JSON, exit code, textfile).
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/check"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// retryEvery is how often --wait runs the checks again.
const retryEvery = 2 * time.Second

// Options are the options of `check`.
type Options struct {
	Categories    []string
	PrintFlags    *cmdutil.PrintFlags
	Wait          time.Duration
	FailOnWarning bool
	Textfile      string
	CheckTimeout  time.Duration

	f       *factory.Factory
	streams genericiooptions.IOStreams
	envs    *EnvBuilder
}

// NewCmdCheck returns the `check` command.
func NewCmdCheck(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{f: f, streams: streams, PrintFlags: cmdutil.NewPrintFlags(output.Text), CheckTimeout: check.DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the whole setup: cluster, monitoring, Immich metrics, alert rules, alerting, secrets and backups",
		Long: `Check every part of the installed setup at once and say what is wrong, what
to do about it and which runbook to read. All checks run concurrently, each with
its own timeout; one failing check never hides the others.

Categories: kubernetes, monitoring, immich, rules, alerting, secrets, backup.

Exit codes: 0 all passed (warnings allowed unless --fail-on-warning), 1 a check
failed, 2 the API server, Prometheus or Alertmanager could not be reached,
124 a check or --wait timed out.

For cron, --textfile writes picluster_check_success{category,check} and
picluster_check_last_run_timestamp_seconds for node-exporter's textfile collector.`,
		Example: cmdutil.Examples(
			"kubectl picluster check",
			"kubectl picluster check --category rules --category alerting",
			"kubectl picluster check --wait 5m",
			"kubectl picluster check -o json --textfile /var/lib/node-exporter/picluster.prom",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate, o.Complete),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Categories, "category", nil, "Run only the checks of this category (repeatable)")
	o.PrintFlags.AddFlags(cmd)
	cmdutil.DurationOrZeroVarP(fl, &o.Wait, "wait", "", "Run the checks again until all pass, for at most this long (exit 124 when they never do)")
	fl.BoolVar(&o.FailOnWarning, "fail-on-warning", false, "Fail (exit 1) on warnings too")
	fl.StringVar(&o.Textfile, "textfile", "", "Also write the results in Prometheus text format to this file, atomically (for node-exporter's textfile collector)")
	cmdutil.DurationVarP(fl, &o.CheckTimeout, "check-timeout", "", "Time limit of each check")
	_ = cmd.RegisterFlagCompletionFunc("category", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return check.Categories(check.All(&check.Env{})), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// Validate checks the flags; it is pure.
func (o *Options) Validate() error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	if o.Wait < 0 {
		return exitcode.BadUsage(errors.New("--wait must not be negative"))
	}
	if o.CheckTimeout <= 0 {
		return exitcode.BadUsage(errors.New("--check-timeout must be positive"))
	}
	if _, err := check.Filter(check.All(&check.Env{}), o.Categories); err != nil {
		return err
	}
	return nil
}

// Complete builds the clients.
func (o *Options) Complete() error {
	b, err := NewEnvBuilder(o.f)
	if err != nil {
		return err
	}
	o.envs = b
	return nil
}

// Run runs the checks (again and again with --wait), prints the report and
// returns the exit code's error.
func (o *Options) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deadline time.Time
	if o.Wait > 0 {
		deadline = time.Now().Add(o.Wait)
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	sp := newSpinner(o.streams.ErrOut, !o.PrintFlags.Structured())
	var report *check.Report
	attempt := 1
	for ; ; attempt++ {
		report = o.runOnce(ctx, sp)
		if report.Success || o.Wait == 0 || ctx.Err() != nil {
			break
		}
		ok, warnings, failures := report.Counts()
		sp.stop()
		fmt.Fprintf(o.streams.ErrOut, "attempt %d: %s (%s); checking again in %s\n",
			attempt, check.CountLine(ok, warnings, failures), strings.Join(failing(report), ", "), retryEvery)
		select {
		case <-ctx.Done():
		case <-time.After(retryEvery):
		}
		if ctx.Err() != nil {
			break
		}
	}
	sp.stop()
	if err := cmdutil.Interruption(ctx, fmt.Sprintf("the checks stopped at attempt %d, before a result; nothing was changed", attempt)); err != nil {
		return err // the last attempt's results are cut short, not failures
	}
	if err := o.print(report); err != nil {
		return err
	}
	if o.Textfile != "" {
		if err := report.WriteTextfile(o.Textfile, time.Now()); err != nil {
			return exitcode.BadUsage(err)
		}
	}
	if report.Success {
		return nil
	}
	if o.Wait > 0 && !time.Now().Before(deadline) {
		return exitcode.TimedOut(fmt.Errorf("not every check passed within --wait %s: %s", o.Wait, strings.Join(failing(report), ", ")))
	}
	return exitcode.Silent{Code: report.ExitCode()}
}

func (o *Options) runOnce(ctx context.Context, sp *spinner) *check.Report {
	env := o.envs.Env()
	checks, _ := check.Filter(check.All(env), o.Categories) // validated already
	sp.start(len(checks))
	report := check.Run(ctx, checks, check.RunOptions{
		Timeout:       o.CheckTimeout,
		FailOnWarning: o.FailOnWarning,
		Progress:      sp.progress,
	})
	report.Calls = o.envs.Calls()
	return report
}

func (o *Options) print(r *check.Report) error {
	return o.PrintFlags.Print(o.streams.Out, r, func(w io.Writer) error {
		return r.WriteText(w, check.TextOptions{Color: colorful(o.streams.Out)})
	})
}

// failing names the checks that did not pass, as category/check.
func failing(r *check.Report) []string {
	var out []string
	for _, c := range r.Categories {
		for _, ch := range c.Checks {
			if !r.Passed(ch) {
				out = append(out, c.Name+"/"+ch.Name)
			}
		}
	}
	return out
}

// colorful tells whether w is a terminal that wants colours (NO_COLOR unset).
func colorful(w any) bool {
	if _, off := os.LookupEnv("NO_COLOR"); off {
		return false
	}
	return isTerminal(w)
}
