package silence

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// ListOptions are the options of `silence list`.
type ListOptions struct {
	Expired    bool
	Quiet      bool
	PrintFlags *cmdutil.PrintFlags

	filter  []string
	flags   *genericclioptions.ConfigFlags
	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdList(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{PrintFlags: cmdutil.NewPrintFlags(output.Table), streams: streams, client: f.Alertmanager, flags: f.Flags()}
	cmd := &cobra.Command{
		Use:     "list [MATCHER...]",
		Aliases: []string{"ls", "query"},
		Short:   "List the active and pending silences (or the expired ones)",
		Long: `List silences: ID, matchers, start, end, creator, comment and state.

Matchers narrow the list as amtool silence query does: to silences that have a
matcher on each named label whose value the given matcher matches (alertname=Foo
finds the silences on alertname="Foo"). --expired lists the expired silences
instead of the current ones; -q prints only the IDs.`,
		Example: cmdutil.Examples(
			"kubectl picluster silence list",
			"kubectl picluster silence list alertname=ImmichThumbnailQueueStuck -o json",
			"kubectl picluster silence list --expired",
			"kubectl picluster silence list -q",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmd.Flags().BoolVar(&o.Expired, "expired", false, "List expired silences instead of active and pending ones")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Print only the IDs")
	o.PrintFlags.AddFlags(cmd)
	cmdutil.NamespaceOverrides(cmd, cmdutil.NamespaceFilterMeaning)
	return cmd
}

// Complete checks the output format and parses the filter matchers.
func (o *ListOptions) Complete(args []string) (err error) {
	o.filter, err = cmdutil.AlertmanagerFilter(o.PrintFlags, args, o.flags)
	return err
}

// Run lists the silences.
func (o *ListOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	all, err := c.Silences(ctx, o.filter)
	if err != nil {
		return err
	}
	silences := alertmanager.FilterSilences(all, o.Expired)
	if o.Quiet {
		for _, s := range silences {
			fmt.Fprintln(o.streams.Out, alertmanager.SilenceID(s))
		}
		return nil
	}
	return o.PrintFlags.Print(o.streams.Out, silences, func(w io.Writer) error {
		if len(silences) == 0 {
			kind := "active or pending"
			if o.Expired {
				kind = "expired"
			}
			fmt.Fprintf(o.streams.ErrOut, "No %s silences.\n", kind)
			return nil
		}
		return alertmanager.PrintSilences(w, silences)
	})
}
