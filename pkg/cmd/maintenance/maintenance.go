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
		Short: "Start, show and stop maintenance windows: one silence per scope that cannot pile up",
		Long: `A maintenance window is an Alertmanager silence, recognised by the marker
"` + alertmanager.MaintenanceMarker + `" at the start of its comment, and keyed by its
scope: its set of matchers. By default the scope is every alert of the Immich
namespace (settings key namespaces.immich); matchers give another one, and windows
of different scopes run side by side. Starting the window of a scope that already
has one extends it (never shortens it, never adds a second one); stopping expires it.`,
		Example: cmdutil.Examples(
			`kubectl picluster maintenance start --duration 2h --comment "Immich upgrade"`,
			`kubectl picluster maintenance start --duration 30m namespace=backup-jobs`,
			"kubectl picluster maintenance status",
			"kubectl picluster maintenance stop",
			"kubectl picluster maintenance stop namespace=backup-jobs",
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
	o := &StartOptions{streams: streams, client: f.Alertmanager, settings: immichNamespace(f), flags: f.Flags()}
	cmd := &cobra.Command{
		Use:   "start --duration D [--comment C] [MATCHER...]",
		Short: "Start the maintenance window of a scope, or extend the running one",
		Long: `Start the maintenance window of a scope (its matchers, by default
namespace="<namespaces.immich>") and print its silence ID. When that scope's
window is already running it is extended to end --duration from now; one that
already ends later is left as it is ("already runs until ..."), so starting twice
never makes two silences. Windows of other scopes are never touched.`,
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
	ms, err := scope(args, o.settings, o.flags)
	if err != nil {
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
	until := alertmanager.FormatTime(res.EndsAt)
	switch res.Action {
	case alertmanager.MaintenanceKeep:
		fmt.Fprintf(o.streams.ErrOut, "maintenance window for %s already runs until %s (silence %s); nothing changed\n", res.Matchers, until, res.ID)
	case alertmanager.MaintenanceRecomment:
		fmt.Fprintf(o.streams.ErrOut, "maintenance window for %s already runs until %s (silence %s); its comment was updated\n", res.Matchers, until, res.ID)
	default:
		fmt.Fprintf(o.streams.ErrOut, "maintenance window %s: silence %s mutes %s until %s\n", res.Action, res.ID, res.Matchers, until)
	}
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
		Short: "Show every running maintenance window and the alerts it mutes",
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
	All bool

	matchers labels.Matchers        // nil with --all
	settings func() (string, error) // -n, or else the Immich namespace
	flags    *genericclioptions.ConfigFlags
	client   func() (*alertmanager.Client, error)
	streams  genericiooptions.IOStreams
}

func newCmdStop(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StopOptions{streams: streams, client: f.Alertmanager, settings: immichNamespace(f), flags: f.Flags()}
	cmd := &cobra.Command{
		Use:   "stop [MATCHER...] [--all]",
		Short: "End the maintenance window of a scope now (expire its silence)",
		Long: `End the maintenance window of a scope now: expire its silence and print its ID.
The scope is given as start takes it (by default namespace="<namespaces.immich>");
windows of other scopes keep running. --all ends every window. Without a running
window there is nothing to do, and that is not an error.`,
		Example: cmdutil.Examples(
			"kubectl picluster maintenance stop",
			"kubectl picluster maintenance stop namespace=backup-jobs",
			"kubectl picluster maintenance stop --all",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmdutil.NamespaceOverrides(cmd, `the window ended is the one of namespace="<-n>" instead of namespaces.immich (not together with matchers or --all)`)
	cmdutil.OnInterrupt(cmd, "the maintenance window may or may not have been ended: `kubectl picluster maintenance status` shows it")
	cmd.Flags().BoolVar(&o.All, "all", false, "End every maintenance window, whatever its scope")
	return cmd
}

// Complete reads the scope: the matchers, the default one, or none with --all.
func (o *StopOptions) Complete(args []string) error {
	if o.All {
		if _, given := cmdutil.GivenNamespace(o.flags); given || len(args) > 0 {
			return usageError("--all ends every window: give no matchers or -n/--namespace with it")
		}
		return nil
	}
	ms, err := scope(args, o.settings, o.flags)
	o.matchers = ms
	return err
}

// Run expires the scope's window (every window with --all).
func (o *StopOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	ids, err := c.StopMaintenance(ctx, o.matchers)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if o.All {
			fmt.Fprintln(o.streams.ErrOut, "No maintenance window is running.")
		} else {
			fmt.Fprintf(o.streams.ErrOut, "No maintenance window for %s is running.\n", alertmanager.FormatMatchers(o.matchers))
		}
		return nil
	}
	for _, id := range ids {
		fmt.Fprintf(o.streams.ErrOut, "maintenance window ended: expired silence %s\n", id)
		fmt.Fprintln(o.streams.Out, id)
	}
	return nil
}

// scope is the window's matchers: those given, or namespace="<-n>", or
// namespace="<namespaces.immich>".
func scope(args []string, immich func() (string, error), flags *genericclioptions.ConfigFlags) (labels.Matchers, error) {
	if _, given := cmdutil.GivenNamespace(flags); given && len(args) > 0 {
		return nil, usageError("give either matchers or -n/--namespace, not both: -n stands for the matcher namespace=\"<-n>\"")
	}
	var ms labels.Matchers
	if len(args) > 0 {
		var err error
		if ms, err = alertmanager.ParseMatchers(args); err != nil {
			return nil, err
		}
	} else {
		ns, err := immich()
		if err != nil {
			return nil, err
		}
		m, err := labels.NewMatcher(labels.MatchEqual, "namespace", ns)
		if err != nil {
			return nil, err
		}
		ms = labels.Matchers{m}
	}
	if err := alertmanager.CheckSilenceMatchers(ms); err != nil {
		return nil, err
	}
	return ms, nil
}

// immichNamespace is a given -n, or else namespaces.immich from the settings, when asked.
func immichNamespace(f *factory.Factory) func() (string, error) {
	return func() (string, error) {
		if ns, ok := cmdutil.GivenNamespace(f.Flags()); ok {
			return ns, nil
		}
		s, err := f.Settings()
		if err != nil {
			return "", err
		}
		return s.Namespaces.Immich, nil
	}
}

// usageError is a usage error (exit 2) with msg.
func usageError(msg string) error { return exitcode.BadUsage(errors.New(msg)) }
