// Package alert wires `kubectl picluster alert test|list`.
package alert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// NewCmdAlert returns the `alert` command group.
func NewCmdAlert(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Fire a test alert end to end, or list the alerts Alertmanager holds",
		Example: cmdutil.Examples(
			"kubectl picluster alert test --wait",
			"kubectl picluster alert list",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdTest(f, streams), newCmdList(f, streams))
	return cmd
}

// TestOptions are the options of `alert test`.
type TestOptions struct {
	Labels       []string
	Severity     string
	ResolveAfter time.Duration
	Wait         string
	Timeout      time.Duration
	PrintFlags   *cmdutil.PrintFlags

	spec    alertmanager.TestAlertSpec
	flags   *genericclioptions.ConfigFlags
	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdTest(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &TestOptions{
		Severity: alertmanager.DefaultSeverity, ResolveAfter: 5 * time.Minute, Timeout: 10 * time.Minute,
		PrintFlags: cmdutil.NewPrintFlags(output.Text),
		streams:    streams, client: f.Alertmanager, flags: f.Flags(),
	}
	o.PrintFlags.Usage = "Output format: text (the test ID), or the report as json, yaml, jsonpath=TEMPLATE or go-template=TEMPLATE"
	cmd := &cobra.Command{
		Use:   "test [--label k=v]... [--severity S] [--resolve-after D] [--wait[=delivered|resolved]] [--timeout D]",
		Short: "Post a uniquely labelled test alert and, with --wait, follow it to its notifications",
		Long: `Post the synthetic alert ` + alertmanager.TestAlertName + ` with a unique ` + alertmanager.TestIDLabel + ` label
and print that ID. Alertmanager resolves it by itself after --resolve-after.

With --wait, follow it end to end: confirm that it is active in Alertmanager (a
silence or inhibition muting it is named, exit 1), that the delivery counters of
the integrations its receiver uses show a notification that went out
(alertmanager_notifications_total and alertmanager_notification_requests_total,
from Alertmanager's own /metrics), then resolve it and, with --wait=resolved (the
default of a bare --wait), confirm the resolved notification as well. A failed
delivery exits 1; running out of --timeout exits 124.

The resolved notification follows the route's group_interval (5m by default):
--wait=resolved takes that long after the firing one, so allow for it in
--timeout. --wait=delivered stops once the firing notification went out (seconds,
after the route's group_wait) and still resolves the alert.`,
		Example: cmdutil.Examples(
			"kubectl picluster alert test --wait",
			"kubectl picluster alert test --wait=delivered",
			"kubectl picluster alert test --label namespace=immich --severity critical --wait --timeout 15m",
			"kubectl picluster alert test --resolve-after 2m",
		),
		Args: cmdutil.Args(func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && (args[0] == alertmanager.WaitDelivered || args[0] == alertmanager.WaitResolved) && cmd.Flags().Changed("wait") {
				return fmt.Errorf("write --wait=%s (with =): a bare --wait means --wait=resolved", args[0])
			}
			return cobra.NoArgs(cmd, args)
		}),
		RunE: cmdutil.RunAfter(o.Run, o.Complete),
	}
	cmdutil.NamespaceOverrides(cmd, `the test alert gets the label namespace="<-n>", as with --label namespace=<-n>, so it takes that namespace's route`)
	cmdutil.OnInterrupt(cmd, "the test alert may or may not have been posted; if it was, Alertmanager resolves it by itself after --resolve-after")
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Labels, "label", "l", nil, "Extra label name=value of the test alert (repeatable)")
	fl.StringVar(&o.Severity, "severity", o.Severity, "Severity label of the test alert")
	cmdutil.DurationVarP(fl, &o.ResolveAfter, "resolve-after", "", "When Alertmanager resolves the alert by itself")
	fl.StringVar(&o.Wait, "wait", "", "Follow the alert to its notifications: delivered (the firing one) or resolved (also the resolved one, a group_interval later); bare --wait is resolved")
	fl.Lookup("wait").NoOptDefVal = alertmanager.WaitResolved
	_ = cmd.RegisterFlagCompletionFunc("wait", cobra.FixedCompletions([]string{alertmanager.WaitDelivered, alertmanager.WaitResolved}, cobra.ShellCompDirectiveNoFileComp))
	cmdutil.DurationVarP(fl, &o.Timeout, "timeout", "", "How long --wait waits in all")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete checks the flags and builds the alert's description.
func (o *TestOptions) Complete() error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	switch o.Wait {
	case "", alertmanager.WaitDelivered, alertmanager.WaitResolved:
	default:
		return exitcode.BadUsage(fmt.Errorf("invalid argument %q for \"--wait\" flag: use delivered or resolved (a bare --wait is resolved)", o.Wait))
	}
	given := o.Labels
	if ns, ok := cmdutil.GivenNamespace(o.flags); ok {
		given = append(append([]string{}, given...), "namespace="+ns)
	}
	labels, err := alertmanager.ParseLabels(given)
	if err != nil {
		return err
	}
	o.spec = alertmanager.TestAlertSpec{Labels: labels, Severity: strings.TrimSpace(o.Severity), ResolveAfter: o.ResolveAfter}
	// Validate the whole alert now, before anything is sent.
	_, err = alertmanager.BuildTestAlert(o.spec, "check", time.Now())
	return err
}

// Run posts the alert and, with --wait, follows it.
func (o *TestOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if o.Wait != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	rep, err := c.RunTestAlert(ctx, alertmanager.TestAlertOptions{Spec: o.spec, Wait: o.Wait != "", Until: o.Wait, Progress: o.streams.ErrOut})
	if rep != nil {
		if perr := o.print(rep); perr != nil && err == nil {
			err = perr
		}
	}
	if rep != nil && o.Wait != "" {
		// RunTestAlert resolves the alert on its way out, also when interrupted.
		if ierr := cmdutil.Interruption(ctx, fmt.Sprintf("%s %s=%s was resolved; nothing is left firing", alertmanager.TestAlertName, alertmanager.TestIDLabel, rep.TestID)); ierr != nil {
			return ierr
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return exitcode.TimedOut(err)
		}
		return err
	}
	switch o.Wait {
	case alertmanager.WaitDelivered:
		fmt.Fprintf(o.streams.ErrOut, "ok: %s %s=%s was delivered (and resolved in Alertmanager)\n", alertmanager.TestAlertName, alertmanager.TestIDLabel, rep.TestID)
	case alertmanager.WaitResolved:
		fmt.Fprintf(o.streams.ErrOut, "ok: %s %s=%s was delivered and resolved\n", alertmanager.TestAlertName, alertmanager.TestIDLabel, rep.TestID)
	}
	return nil
}

func (o *TestOptions) print(rep *alertmanager.TestAlertReport) error {
	return o.PrintFlags.Print(o.streams.Out, rep, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, rep.TestID)
		return err
	})
}

// ListOptions are the options of `alert list`.
type ListOptions struct {
	cmdutil.AlertmanagerList
}

func newCmdList(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{cmdutil.NewAlertmanagerList(f.Flags(), f.Alertmanager, streams)}
	cmd := &cobra.Command{
		Use:     "list [MATCHER...]",
		Aliases: []string{"ls", "query"},
		Short:   "List the alerts Alertmanager holds, with what mutes them",
		Long: `List the firing alerts Alertmanager holds: name, state (active or
suppressed), severity, start, the other labels, and the silences or inhibiting
alerts that mute them. Matchers (amtool's syntax) narrow the list.`,
		Example: cmdutil.Examples(
			"kubectl picluster alert list",
			"kubectl picluster alert list namespace=immich -o json",
			"kubectl picluster alert list ImmichThumbnailQueueStuck",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	o.AddFlags(cmd)
	return cmd
}

// Run lists the alerts.
func (o *ListOptions) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	alerts, err := c.Alerts(ctx, o.Filter)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = models.GettableAlerts{}
	}
	alertmanager.SortAlerts(alerts)
	return o.PrintFlags.Print(o.Streams.Out, alerts, func(w io.Writer) error {
		if len(alerts) == 0 {
			fmt.Fprintln(o.Streams.ErrOut, "No alerts.")
			return nil
		}
		return alertmanager.PrintAlerts(w, alerts)
	})
}
