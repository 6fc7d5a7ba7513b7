package silence

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// ExpireOptions are the options of `silence expire`.
type ExpireOptions struct {
	IDs []string

	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdExpire(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ExpireOptions{streams: streams, client: f.Alertmanager}
	cmd := &cobra.Command{
		Use:     "expire [ID...]",
		Aliases: []string{"rm"},
		Short:   "Expire silences now",
		Long: `Expire silences now and print their IDs.

Every ID is looked up first: when one is unknown, nothing is expired (exit 2).
A silence that already expired is left as it is. No ID at all (an empty list from
silence list -q in a pipeline) says "nothing to expire" and exits 0.`,
		Example: cmdutil.Examples(
			"kubectl picluster silence expire 8f6f7c1e-0c1d-4d2a-9a55-0d7c51d0b0e2",
			"kubectl picluster silence expire $(kubectl picluster silence list -q alertname=ImmichThumbnailQueueStuck)",
		),
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeSilenceIDs(f, 0),
		RunE:              cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmdutil.OnInterrupt(cmd, "the silences whose IDs were printed are expired, the others may or may not be: `kubectl picluster silence list` shows what is in place")
	return cmd
}

// Complete checks that every argument can be a silence ID.
func (o *ExpireOptions) Complete(args []string) error {
	o.IDs = nil
	for _, id := range args {
		if err := alertmanager.CheckSilenceID(id); err != nil {
			return err
		}
		if !slices.Contains(o.IDs, id) {
			o.IDs = append(o.IDs, id)
		}
	}
	return nil
}

// Run looks every silence up, then expires those still current.
func (o *ExpireOptions) Run(ctx context.Context) error {
	if len(o.IDs) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "nothing to expire: no silence ID given")
		return nil
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	found := make([]*models.GettableSilence, 0, len(o.IDs))
	for _, id := range o.IDs {
		s, err := c.Silence(ctx, id)
		if err != nil {
			return err
		}
		found = append(found, s)
	}
	for _, s := range found {
		id := alertmanager.SilenceID(s)
		if alertmanager.State(s) == alertmanager.StateExpired {
			fmt.Fprintf(o.streams.ErrOut, "silence %s had already expired at %s\n", id, alertmanager.FormatTime(time.Time(*s.EndsAt)))
			continue
		}
		if err := c.ExpireSilence(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(o.streams.Out, id)
	}
	return nil
}
