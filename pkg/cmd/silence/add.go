package silence

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// AddOptions are the options of `silence add`.
type AddOptions struct {
	Duration string
	Start    string
	End      string
	Comment  string
	Author   string

	silence *models.PostableSilence
	client  func() (*alertmanager.Client, error)
	streams genericiooptions.IOStreams
}

func newCmdAdd(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &AddOptions{streams: streams, client: func() (*alertmanager.Client, error) { return alertmanager.FromFactory(f) }}
	cmd := &cobra.Command{
		Use:   "add MATCHER... (--duration D | --end T) --comment C",
		Short: "Create a silence and print its ID",
		Long: `Create a silence and print its ID on stdout.

Before creating it, the alerts it covers right now are listed on stderr, so a
matcher that misses (or catches too much) shows at once. Durations are written
as Prometheus writes them (30m, 2h, 1d, 1w); times are RFC 3339.`,
		Example: cmdutil.Examples(
			`kubectl picluster silence add ImmichQueueStuck --duration 2h --comment "re-indexing the library"`,
			`kubectl picluster silence add alertname=TargetDown 'job=~"immich.*"' --duration 30m -c "node reboot"`,
			`kubectl picluster silence add namespace=immich --start 2025-12-28T02:00:00+01:00 --end 2025-12-28T04:00:00+01:00 -c "upgrade"`,
		),
		Args: cmdutil.Args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args, time.Now()); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Duration, "duration", "d", "", "How long the silence lasts, from its start (e.g. 2h, 1d)")
	fl.StringVar(&o.Start, "start", "", "When the silence starts, RFC 3339 (default: now)")
	fl.StringVar(&o.End, "end", "", "When the silence ends, RFC 3339 (instead of --duration)")
	fl.StringVarP(&o.Comment, "comment", "c", "", "Why the alerts are silenced (required)")
	fl.StringVarP(&o.Author, "author", "a", DefaultAuthor(), "Who silences them")
	return cmd
}

// Complete parses the matchers and flags into the silence to create; every
// problem is found here, before anything is sent.
func (o *AddOptions) Complete(args []string, now time.Time) error {
	ms, err := alertmanager.ParseMatchers(args)
	if err != nil {
		return err
	}
	req := alertmanager.SilenceRequest{Matchers: ms, Comment: o.Comment, Author: o.Author}
	if o.Duration != "" {
		if req.Duration, err = alertmanager.ParseDuration("duration", o.Duration); err != nil {
			return err
		}
	}
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

// Run shows the alerts the silence covers, creates it and prints its ID.
func (o *AddOptions) Run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	alerts, err := c.Alerts(ctx, nil)
	if err != nil {
		return err
	}
	ms, err := alertmanager.FromAPIMatchers(o.silence.Matchers)
	if err != nil {
		return err
	}
	covered := alertmanager.CoveredAlerts(alerts, ms, time.Now())
	alertmanager.SortAlerts(covered)
	switch len(covered) {
	case 0:
		fmt.Fprintf(o.streams.ErrOut, "No alert matches %s right now.\n", alertmanager.FormatMatchers(ms))
	case 1:
		fmt.Fprintln(o.streams.ErrOut, "This silence covers 1 alert now:")
	default:
		fmt.Fprintf(o.streams.ErrOut, "This silence covers %d alerts now:\n", len(covered))
	}
	alertmanager.DescribeAlerts(o.streams.ErrOut, covered)
	id, err := c.PostSilence(ctx, o.silence)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.streams.Out, id)
	return nil
}
