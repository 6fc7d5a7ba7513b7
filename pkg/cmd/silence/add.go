package silence

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// AddOptions are the options of `silence add`.
type AddOptions struct {
	Duration time.Duration
	Start    string
	End      string
	Comment  string
	Author   string
	DryRun   bool

	silence  *models.PostableSilence
	matchers labels.Matchers
	client   func() (*alertmanager.Client, error)
	streams  genericiooptions.IOStreams
}

func newCmdAdd(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &AddOptions{streams: streams, client: f.Alertmanager}
	cmd := &cobra.Command{
		Use:   "add MATCHER... (--duration D | --end T) --comment C",
		Short: "Create a silence and print its ID",
		Long: `Create a silence and print its ID on stdout.

The alerts it covers right now are listed on stderr first, so a matcher that
misses (or catches too much) shows at once; --dry-run shows them and creates
nothing. Durations are written as Prometheus writes them (30m, 2h, 1d, 1w);
times are RFC 3339.`,
		Example: cmdutil.Examples(
			`kubectl picluster silence add ImmichThumbnailQueueStuck --duration 2h --comment "re-indexing the library"`,
			`kubectl picluster silence add alertname=ImmichServerDown 'job=~"immich.*"' --duration 30m -c "node reboot"`,
			`kubectl picluster silence add 'severity=~"warn.*"' namespace=immich --dry-run -d 1h -c "check first"`,
			`kubectl picluster silence add namespace=immich --start 2030-01-05T02:00:00+01:00 --end 2030-01-05T04:00:00+01:00 -c "upgrade"`,
		),
		Args: cmdutil.Args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args, time.Now()); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmdutil.OnInterrupt(cmd, "the silence may or may not have been created: `kubectl picluster silence list` shows what is in place")
	fl := cmd.Flags()
	cmdutil.DurationVarP(fl, &o.Duration, "duration", "d", "How long the silence lasts, from its start (e.g. 2h, 1d)")
	fl.StringVar(&o.Start, "start", "", "When the silence starts, RFC 3339 (default: now)")
	fl.StringVar(&o.End, "end", "", "When the silence ends, RFC 3339 (instead of --duration)")
	fl.StringVarP(&o.Comment, "comment", "c", "", "Why the alerts are silenced (required)")
	fl.StringVarP(&o.Author, "author", "a", alertmanager.DefaultAuthor(), "Who silences them")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Only show the alerts the silence would cover; create nothing")
	return cmd
}

// Complete parses the matchers and flags into the silence to create; every
// problem is found here, before anything is sent.
func (o *AddOptions) Complete(args []string, now time.Time) error {
	ms, err := alertmanager.ParseMatchers(args)
	if err != nil {
		return err
	}
	o.matchers = ms
	req := alertmanager.SilenceRequest{Matchers: ms, Duration: o.Duration, Comment: o.Comment, Author: o.Author}
	if o.Start != "" {
		if req.Start, err = alertmanager.ParseTime("start", o.Start); err != nil {
			return err
		}
	}
	if o.End != "" {
		if req.End, err = alertmanager.ParseTime("end", o.End); err != nil {
			return err
		}
	}
	o.silence, err = alertmanager.BuildSilence(req, now)
	return err
}

// Run creates the silence, prints the alerts it covers on stderr and then its ID
// on stdout. The alerts are fetched while the silence is posted: the same answer in
// one round trip instead of two (through the API server's proxy, a round trip is
// what the command costs). --dry-run fetches them alone and creates nothing.
func (o *AddOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if w := alertmanager.LongSilenceWarning(time.Time(*o.silence.StartsAt), time.Time(*o.silence.EndsAt)); w != "" {
		fmt.Fprintln(o.streams.ErrOut, w)
	}
	if o.DryRun {
		covered, err := c.Covered(ctx, o.matchers)
		if err != nil {
			return err
		}
		o.describe(covered)
		fmt.Fprintf(o.streams.ErrOut, "dry run: would silence %s from %s to %s (by %s: %q); nothing was created\n",
			alertmanager.FormatMatchers(o.matchers), alertmanager.FormatTime(time.Time(*o.silence.StartsAt)),
			alertmanager.FormatTime(time.Time(*o.silence.EndsAt)), *o.silence.CreatedBy, *o.silence.Comment)
		return nil
	}
	type coverage struct {
		alerts models.GettableAlerts
		err    error
	}
	done := make(chan coverage, 1)
	go func() {
		alerts, err := c.Covered(ctx, o.matchers)
		done <- coverage{alerts, err}
	}()
	id, postErr := c.PostSilence(ctx, o.silence)
	cov := <-done
	switch {
	case postErr != nil:
		return postErr
	case cov.err != nil:
		fmt.Fprintf(o.streams.ErrOut, "Warning: could not list the alerts the silence covers: %v\n", cov.err)
	default:
		o.describe(cov.alerts)
	}
	fmt.Fprintln(o.streams.Out, id)
	return nil
}

// describe writes the alerts the silence covers to stderr.
func (o *AddOptions) describe(covered models.GettableAlerts) {
	switch len(covered) {
	case 0:
		fmt.Fprintf(o.streams.ErrOut, "No alert matches %s right now.\n", alertmanager.FormatMatchers(o.matchers))
	case 1:
		fmt.Fprintln(o.streams.ErrOut, "This silence covers 1 alert now:")
	default:
		fmt.Fprintf(o.streams.ErrOut, "This silence covers %d alerts now:\n", len(covered))
	}
	alertmanager.DescribeAlerts(o.streams.ErrOut, covered)
}
