// Package install wires `kubectl picluster install`: render the bundle from the settings,
// then print it (--export) or server-side apply it and wait for it.
package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/apply"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// DefaultTimeout bounds the apply and the readiness wait when --timeout is not given.
const DefaultTimeout = 5 * time.Minute

// Options are the options of `install`.
type Options struct {
	Export         bool
	Components     []string
	DryRun         string
	Wait           bool
	Timeout        time.Duration
	ForceConflicts bool
	PrintFlags     *cmdutil.PrintFlags

	dryRun     apply.DryRun
	streams    genericiooptions.IOStreams
	settings   func() (*settings.Settings, error)
	restConfig func() (*rest.Config, error)
}

// requiredCRDs are the CRDs the components (none: all) need, as apply checks them.
func requiredCRDs(components []string) []apply.CRD {
	var out []apply.CRD
	for _, c := range bundle.RequiredCRDs(components...) {
		out = append(out, apply.CRD{Name: c.Name, Group: c.Group, Kind: c.Kind, HowToGet: c.HowToGet})
	}
	return out
}

// NewOptions returns the options with their defaults.
func NewOptions(f *factory.Factory, streams genericiooptions.IOStreams) *Options {
	return &Options{
		DryRun:     string(apply.DryRunNone),
		Timeout:    DefaultTimeout,
		PrintFlags: cmdutil.NewChangeSetPrintFlags(),
		streams:    streams,
		settings:   f.Settings,
		restConfig: f.RESTConfig,
	}
}

// NewCmdInstall returns the `install` command.
func NewCmdInstall(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(f, streams)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the bundled monitoring, Immich alerting, backup and RBAC manifests",
		Long: `Render the bundle (kube-prometheus-stack as a Flux HelmRelease with the Discord
receiver, Immich's ServiceMonitor and alerts, the Postgres backup CronJob, and the
picluster-operator ClusterRole) from the settings, and server-side apply it with the
field manager "kubectl-picluster": CRDs and namespaces first, then the rest.

The change set (created / configured / unchanged per object) goes to stdout, progress
to stderr. Re-running changes nothing and says so. Before anything is applied, the
CRDs the bundle needs (Flux, prometheus-operator, External Secrets) are checked.

Fields another field manager took over (e.g. with kubectl edit) are reported as
conflicts and left alone, as are objects managed by Flux; --force-conflicts takes
them over. If Flux manages your cluster, commit the output of --export to your
GitOps repository instead of installing.

Exit codes: 0 applied (and ready with --wait), 1 conflicts, refusals or failed
objects, 2 bad settings, missing CRDs or no cluster, 124 --timeout reached.`,
		Example: cmdutil.Examples(
			"# Show what would be installed, as YAML for a GitOps repository (contacts no cluster)",
			"kubectl picluster install --export > picluster.yaml",
			"",
			"# Install only the backup CronJob and its alerts, and wait until all is ready",
			"kubectl picluster install --component backup --wait --timeout 5m",
			"",
			"# Let the API server validate everything without changing the cluster",
			"kubectl picluster install --dry-run=server",
			"",
			"# The change set as JSON",
			"kubectl picluster install -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate),
	}
	cmdutil.OnInterrupt(cmd, "install stopped part way: the objects applied so far stay as applied, the rest were not applied; running install again finishes it")
	fl := cmd.Flags()
	fl.BoolVar(&o.Export, "export", false, "Print the rendered manifests as multi-document YAML and contact no cluster")
	fl.StringArrayVar(&o.Components, "component", nil, "Install only this component (repeatable): "+strings.Join(bundle.Components(), ", "))
	fl.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none", "client" (compare with the cluster, send nothing) or "server" (the API server validates, persists nothing)`)
	fl.Lookup("dry-run").NoOptDefVal = string(apply.DryRunClient)
	fl.BoolVar(&o.Wait, "wait", false, "Wait until every object is ready (kstatus; Flux and External Secrets objects need Ready=True)")
	cmdutil.DurationVarP(fl, &o.Timeout, "timeout", "", "Give up after this long (apply and --wait together); exit 124")
	fl.BoolVar(&o.ForceConflicts, "force-conflicts", false, "Take over fields owned by other field managers and objects managed by Flux")
	o.PrintFlags.AddFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("component", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return bundle.Components(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags; it contacts nothing.
func (o *Options) Validate() error {
	d, err := apply.ParseDryRun(o.DryRun)
	if err != nil {
		return exitcode.BadUsage(err)
	}
	o.dryRun = d
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	if err := bundle.ValidateComponents(o.Components); err != nil {
		return err
	}
	switch {
	case o.Export && (o.dryRun != apply.DryRunNone || o.Wait || o.ForceConflicts || o.PrintFlags.Structured()):
		return exitcode.BadUsage(errors.New("--export prints YAML and contacts no cluster: it takes no --dry-run, --wait, --force-conflicts or --output"))
	case o.Wait && o.dryRun != apply.DryRunNone:
		return exitcode.BadUsage(errors.New("--wait cannot be used with --dry-run: nothing is applied to wait for"))
	case o.Timeout <= 0:
		return exitcode.BadUsage(fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	return nil
}

// Run renders the bundle and exports or installs it.
func (o *Options) Run(ctx context.Context) error {
	objs, err := cmdutil.RenderBundle(o.settings, o.Components)
	if err != nil {
		return err
	}
	if o.Export {
		data, err := bundle.YAML(objs)
		if err != nil {
			return err
		}
		_, err = o.streams.Out.Write(data)
		return err
	}
	a, err := cmdutil.NewApplier(o.restConfig, o.streams.ErrOut)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cs, applyErr := a.Apply(ctx, objs, apply.Options{
		DryRun:   o.dryRun,
		Force:    o.ForceConflicts,
		Required: requiredCRDs(o.Components),
	})
	if err := o.print(cs); err != nil {
		return err
	}
	if applyErr != nil {
		return classify(ctx, applyErr, "install")
	}
	if !o.Wait {
		return nil
	}
	if err := a.Wait(ctx, objs, apply.WaitOptions{}); err != nil {
		return classify(ctx, err, "wait for readiness")
	}
	return nil
}

// print writes the change set to stdout: text lines, or one JSON/YAML document.
func (o *Options) print(cs *apply.ChangeSet) error {
	return o.PrintFlags.Print(o.streams.Out, cs, func(w io.Writer) error {
		if err := cs.WriteText(w); err != nil {
			return err
		}
		if len(cs.Changes) == 0 {
			return nil
		}
		if n := len(cs.Changes); cs.Count(apply.Unchanged) == n {
			fmt.Fprintf(o.streams.ErrOut, "install: nothing changed (%s)\n", cs.Summary())
			return nil
		}
		fmt.Fprintf(o.streams.ErrOut, "install: %s\n", cs.Summary())
		return nil
	})
}

// classify gives an apply or wait error its exit code: what is missing is a setup
// problem (2), conflicts, refusals and failed objects are 1, a deadline is 124 (also when
// it cut requests short, which the API client reports as failed objects).
func classify(ctx context.Context, err error, doing string) error {
	var missing *apply.MissingError
	var refused *apply.RefusedError
	var applyErr *apply.ApplyError
	var waitErr *apply.WaitError
	switch {
	case errors.As(err, &missing):
		return exitcode.BadUsage(err)
	case exitcode.IsTimeout(err), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return exitcode.TimedOut(fmt.Errorf("%s: %w", doing, err))
	case errors.As(err, &refused), errors.As(err, &applyErr), errors.As(err, &waitErr):
		return exitcode.Failed(err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
