// Package maintenance wires `kubectl picluster maintenance start|status|stop`.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// NewCmdMaintenance returns the `maintenance` command group.
func NewCmdMaintenance(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Start, show and stop a maintenance window: one silence that cannot pile up",
		Long: `A maintenance window is one Alertmanager silence, recognised by the marker
"` + alertmanager.MaintenanceMarker + `" at the start of its comment. Starting a window
while one runs extends it (never shortens it, never adds a second one); stopping
expires it. By default it mutes every alert of the Immich namespace (settings key
namespaces.immich).`,
		Example: cmdutil.Examples(
			`kubectl picluster maintenance start --duration 2h --comment "Immich upgrade"`,
			"kubectl picluster maintenance status",
			"kubectl picluster maintenance stop",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdStart(f, streams), newCmdStatus(f, streams), newCmdStop(f, streams))
	return cmd
}

// StartOptions are the options of `maintenance start`.
type StartOptions struct {
	Duration time.Duration
	Comment  string
	Author   string

	request  alertmanager.MaintenanceRequest
	settings func() (string, error) // -n, or else the Immich namespace
	flags    *genericclioptions.ConfigFlags
	client   func() (*alertmanager.Client, error)
	streams  genericiooptions.IOStreams
}

func newCmdStart(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StartOptions{streams: streams, client: f.Alertmanager, settings: func() (string, error) {
		if ns, ok := cmdutil.GivenNamespace(f.Flags()); ok {
			return ns, nil
		}
		s, err := f.Settings()
		if err != nil {
			return "", err
		}
		return s.Namespaces.Immich, nil
	}, flags: f.Flags()}
	cmd := &cobra.Command{
		Use:   "start --duration D [--comment C] [MATCHER...]",
		Short: "Start the maintenance window, or extend the running one",
		Long: `Start the maintenance window and print its silence ID. When a window is
already running it is extended to end --duration from now (a window that already
ends later is left as it is), so starting twice never makes two silences.
Matchers default to namespace="<namespaces.immich>".`,
		Example: cmdutil.Examples(
			`kubectl picluster maintenance start --duration 2h --comment "Immich upgrade"`,
			`kubectl picluster maintenance start --duration 30m namespace=backup-jobs`,
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmdutil.NamespaceOverrides(cmd, `the window mutes namespace="<-n>" instead of namespaces.immich (not together with matchers)`)
	cmdutil.OnInterrupt(cmd, "the maintenance window may or may not have been started or extended: `kubectl picluster maintenance status` shows it")
	cmdutil.DurationVarP(cmd.Flags(), &o.Duration, "duration", "d", "How long the window lasts from now (e.g. 2h; required)")
	cmd.Flags().StringVarP(&o.Comment, "comment", "c", "", "Why (default: \""+alertmanager.DefaultMaintenanceComment+"\"; kept when extending)")
	cmd.Flags().StringVarP(&o.Author, "author", "a", alertmanager.DefaultAuthor(), "Who starts the window")
	return cmd
}

// Complete parses the duration and the matchers, or takes the default matcher.
func (o *StartOptions) Complete(args []string) error {
	if o.Duration == 0 {
		return usageError("--duration is required: how long the maintenance lasts, e.g. 2h")
	}
	var ms labels.Matchers
	if _, given := cmdutil.GivenNamespace(o.flags); given && len(args) > 0 {
		return usageError("give either matchers or -n/--namespace, not both: -n stands for the matcher namespace=\"<-n>\"")
	}
	if len(args) > 0 {
		var err error
		if ms, err = alertmanager.ParseMatchers(args); err != nil {
			return err
		}
	} else {
		ns, err := o.settings()
		if err != nil {
			return err
		}
		m, err := labels.NewMatcher(labels.MatchEqual, "namespace", ns)
		if err != nil {
			return err
		}
		ms = labels.Matchers{m}
	}
	if err := alertmanager.CheckSilenceMatchers(ms); err != nil {
		return err
	}
	if strings.TrimSpace(o.Author) == "" {
		return usageError("--author must not be empty")
	}
	o.request = alertmanager.MaintenanceRequest{Matchers: ms, Duration: o.Duration, Comment: o.Comment, Author: o.Author}
	return nil
}

// Run starts or extends the window and prints its ID.
func (o *StartOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.StartMaintenance(ctx, o.request)
	if err != nil {
		return err
	}
	for _, id := range res.Expired {
		fmt.Fprintf(o.streams.ErrOut, "expired duplicate maintenance silence %s\n", id)
	}
	if w := alertmanager.LongSilenceWarning(time.Now(), res.EndsAt); w != "" {
		fmt.Fprintln(o.streams.ErrOut, w)
	}
	fmt.Fprintf(o.streams.ErrOut, "maintenance window %s: silence %s mutes %s until %s\n",
		res.Action, res.ID, res.Matchers, alertmanager.FormatTime(res.EndsAt))
	fmt.Fprintln(o.streams.Out, res.ID)
	return nil
}

// StatusOptions are the options of `maintenance status`.
type StatusOptions struct {
	PrintFlags *cmdutil.PrintFlags

	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdStatus(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{PrintFlags: cmdutil.NewPrintFlags(output.Table), streams: streams, client: f.Alertmanager}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running maintenance window and the alerts it mutes",
		Example: cmdutil.Examples(
			"kubectl picluster maintenance status",
			"kubectl picluster maintenance status -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.PrintFlags.Validate),
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Run prints the window; no window is not an error.
func (o *StatusOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	windows, err := c.Maintenance(ctx)
	if err != nil {
		return err
	}
	return o.PrintFlags.Print(o.streams.Out, windows, func(w io.Writer) error {
		if len(windows) == 0 {
			fmt.Fprintln(o.streams.ErrOut, "No maintenance window is running.")
			return nil
		}
		return alertmanager.PrintMaintenance(w, windows)
	})
}

// StopOptions are the options of `maintenance stop`.
type StopOptions struct {
	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdStop(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StopOptions{streams: streams, client: f.Alertmanager}
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "End the maintenance window now (expire its silence)",
		Long: `End the maintenance window now: expire its silence and print its ID.
Without a running window there is nothing to do, and that is not an error.`,
		Example: cmdutil.Examples("kubectl picluster maintenance stop"),
		Args:    cmdutil.Args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	cmdutil.OnInterrupt(cmd, "the maintenance window may or may not have been ended: `kubectl picluster maintenance status` shows it")
	return cmd
}

// Run expires every maintenance window.
func (o *StopOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	ids, err := c.StopMaintenance(ctx)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "No maintenance window is running.")
		return nil
	}
	for _, id := range ids {
		fmt.Fprintf(o.streams.ErrOut, "maintenance window ended: expired silence %s\n", id)
		fmt.Fprintln(o.streams.Out, id)
	}
	return nil
}

// usageError is a usage error (exit 2) with msg.
func usageError(msg string) error { return exitcode.BadUsage(errors.New(msg)) }
