package silence

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// ListOptions are the options of `silence list`.
type ListOptions struct {
	Expired bool
	Quiet   bool
	cmdutil.AlertmanagerList
}

func newCmdList(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{AlertmanagerList: cmdutil.NewAlertmanagerList(f.Flags(), f.Alertmanager, streams)}
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
	o.AddFlags(cmd)
	return cmd
}

// Run lists the silences.
func (o *ListOptions) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	all, err := c.Silences(ctx, o.Filter)
	if err != nil {
		return err
	}
	silences := alertmanager.FilterSilences(all, o.Expired)
	if o.Quiet {
		for _, s := range silences {
			fmt.Fprintln(o.Streams.Out, alertmanager.SilenceID(s))
		}
		return nil
	}
	return o.PrintFlags.Print(o.Streams.Out, silences, func(w io.Writer) error {
		if len(silences) == 0 {
			kind := "active or pending"
			if o.Expired {
				kind = "expired"
			}
			fmt.Fprintf(o.Streams.ErrOut, "No %s silences.\n", kind)
			return nil
		}
		return alertmanager.PrintSilences(w, silences)
	})
}
