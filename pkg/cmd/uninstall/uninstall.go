// Package uninstall wires `kubectl picluster uninstall`: remove what `install` created,
// and nothing else.
package uninstall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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

// Options are the options of `uninstall`.
type Options struct {
	Components []string
	Yes        bool
	DryRun     bool
	PrintFlags *cmdutil.PrintFlags

	streams    genericiooptions.IOStreams
	settings   func() (*settings.Settings, error)
	restConfig func() (*rest.Config, error)
}

// NewCmdUninstall returns the `uninstall` command.
func NewCmdUninstall(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{PrintFlags: cmdutil.NewChangeSetPrintFlags(), streams: streams, settings: f.Settings, restConfig: f.RESTConfig}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what install created, and nothing else",
		Long: `Remove the objects that "kubectl picluster install" created: those that carry the
label ` + bundle.ManagedByLabel + `=` + bundle.ManagedByValue + `, were applied with the field
manager "` + apply.FieldManager + `", and did not exist before install. It lists them and asks
before deleting anything (--yes skips the question).

Objects that existed before install and were taken over are left in place, CRDs are
never deleted, and a namespace is kept while it holds anything install did not create
(a Secret with an SSH key, a volume claim, ...).

Exit codes: 0 removed (or nothing to remove), 1 cancelled or a deletion failed,
2 bad settings or no cluster.`,
		Example: cmdutil.Examples(
			"# List what would be removed",
			"kubectl picluster uninstall --dry-run",
			"",
			"# Remove the backup component without asking",
			"kubectl picluster uninstall --component backup --yes",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate),
	}
	cmdutil.OnInterrupt(cmd, "uninstall stopped part way: the objects deleted so far are gone (or going), the rest stay; running uninstall again finishes it")
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Components, "component", nil, "Remove only this component (repeatable): "+strings.Join(bundle.Components(), ", "))
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Delete without asking")
	fl.BoolVar(&o.DryRun, "dry-run", false, "List what would be removed and delete nothing")
	o.PrintFlags.AddFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("component", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return bundle.Components(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// Validate checks the flags; it contacts nothing.
func (o *Options) Validate() error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	return bundle.ValidateComponents(o.Components)
}

// Run finds, plans, confirms and deletes.
func (o *Options) Run(ctx context.Context) error {
	objs, err := cmdutil.RenderBundleForRemoval(o.settings, o.Components)
	if err != nil {
		return err
	}
	kinds, namespaces := bundle.Scope(objs)
	a, err := cmdutil.NewApplier(o.restConfig, o.streams.ErrOut)
	if err != nil {
		return err
	}
	found, err := a.Find(ctx, kinds, bundle.Selector(o.Components), namespaces)
	if err != nil {
		return fmt.Errorf("find what install created: %w", err)
	}
	plan, del, err := a.PlanDelete(ctx, found)
	if err != nil {
		return fmt.Errorf("plan the removal: %w", err)
	}
	if len(del) == 0 || o.DryRun {
		if o.DryRun {
			plan.DryRun = apply.DryRunClient
		}
		if len(del) == 0 {
			fmt.Fprintln(o.streams.ErrOut, "uninstall: nothing to remove")
		}
		return o.print(plan)
	}
	if !o.Yes {
		if err := o.confirm(ctx, plan, len(del)); err != nil {
			return err
		}
	}
	if err := a.Delete(ctx, del); err != nil {
		_ = o.print(plan)
		return exitcode.Failed(err)
	}
	return o.print(plan)
}

// confirm shows the plan on stderr and asks on stdin; anything but yes cancels.
func (o *Options) confirm(ctx context.Context, plan *apply.ChangeSet, n int) error {
	w := o.streams.ErrOut
	fmt.Fprintln(w, "uninstall will delete:")
	for _, c := range plan.With(apply.Deleted) {
		fmt.Fprintf(w, "  %s\n", c.ID())
	}
	if kept := plan.With(apply.Kept); len(kept) > 0 {
		fmt.Fprintln(w, "and keep:")
		for _, c := range kept {
			fmt.Fprintf(w, "  %s: %s\n", c.ID(), c.Message)
		}
	}
	fmt.Fprintf(w, "Delete these %d object(s)? [y/N]: ", n)
	answer, err := cmdutil.ReadLine(ctx, o.streams.In)
	if ierr := cmdutil.Interruption(ctx, "nothing was deleted"); ierr != nil {
		fmt.Fprintln(w)
		return ierr
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	if answer == "" {
		fmt.Fprintln(o.streams.ErrOut)
		return exitcode.Failed(errors.New("uninstall cancelled: no answer on stdin (use --yes to delete without asking); nothing was deleted"))
	}
	return exitcode.Failed(errors.New("uninstall cancelled; nothing was deleted"))
}

func (o *Options) print(cs *apply.ChangeSet) error {
	return o.PrintFlags.Print(o.streams.Out, cs, func(w io.Writer) error {
		if err := cs.WriteText(w); err != nil {
			return err
		}
		fmt.Fprintf(o.streams.ErrOut, "uninstall: %s\n", cs.Summary())
		return nil
	})
}
