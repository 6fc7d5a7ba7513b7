package silence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// ExtendOptions are the options of `silence extend`.
type ExtendOptions struct {
	ID       string
	Duration time.Duration

	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdExtend(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ExtendOptions{streams: streams, client: f.Alertmanager}
	cmd := &cobra.Command{
		Use:   "extend ID --duration D",
		Short: "Move a silence's end later by a duration",
		Long: `Move the end of an active or pending silence later by --duration and print
its ID. Alertmanager updates the silence in place, so the ID stays the same.
An unknown or expired silence is refused (exit 2): create a new one instead.`,
		Example: cmdutil.Examples(
			"kubectl picluster silence extend 8f6f7c1e-0c1d-4d2a-9a55-0d7c51d0b0e2 --duration 1h",
		),
		Args:              cmdutil.Args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeSilenceIDs(f, 1),
		RunE:              cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmdutil.OnInterrupt(cmd, "the silence may or may not have been extended: `kubectl picluster silence list` shows its end")
	cmdutil.DurationVarP(cmd.Flags(), &o.Duration, "duration", "d", "How much later the silence ends (e.g. 1h, 1d; required)")
	return cmd
}

// Complete checks the ID and the duration.
func (o *ExtendOptions) Complete(args []string) error {
	o.ID = args[0]
	if err := alertmanager.CheckSilenceID(o.ID); err != nil {
		return err
	}
	if o.Duration == 0 {
		return exitcode.BadUsage(errors.New("--duration is required: how much later the silence should end, e.g. 1h"))
	}
	return nil
}

// Run extends the silence.
func (o *ExtendOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	s, err := c.Silence(ctx, o.ID)
	if err != nil {
		return err
	}
	post, err := alertmanager.ExtendSilence(s, o.Duration, time.Now())
	if err != nil {
		return err
	}
	if w := alertmanager.LongSilenceWarning(time.Now(), time.Time(*post.EndsAt)); w != "" {
		fmt.Fprintln(o.streams.ErrOut, w)
	}
	id, err := c.PostSilence(ctx, post)
	if err != nil {
		return err
	}
	if id != o.ID {
		fmt.Fprintf(o.streams.ErrOut, "Alertmanager replaced silence %s with %s\n", o.ID, id)
	}
	fmt.Fprintf(o.streams.ErrOut, "silence %s now ends at %s\n", id, alertmanager.FormatTime(time.Time(*post.EndsAt)))
	fmt.Fprintln(o.streams.Out, id)
	return nil
}
