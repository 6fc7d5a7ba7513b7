package backup

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// StatusOptions are the options of `backup status`.
type StatusOptions struct {
	MaxAge     time.Duration
	PrintFlags *cmdutil.PrintFlags

	common
}

func newCmdStatus(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{PrintFlags: cmdutil.NewPrintFlags(output.Table), common: common{f: f, streams: streams}}
	cmd := &cobra.Command{
		Use:   "status [--max-age D] [-o FORMAT]",
		Short: "Show the backup's schedule, last success and last Job; exit 1 when it failed or is stale",
		Long: `Show the backup CronJob's schedule, its next run in the CronJob's time zone,
whether it is suspended, its last schedule, the last successful backup (scheduled
or manual) and its age, and the result of the last Job with its reason.

Exit 1 when the last Job failed, or when the last success is older than
--max-age (default: the settings' backup.staleAfter), or when nothing succeeded
in a CronJob older than that: so cron can call it.`,
		Example: cmdutil.Examples(
			"kubectl picluster backup status",
			"kubectl picluster backup status --max-age 8d -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.PrintFlags.Validate),
	}
	cmdutil.NamespaceOverrides(cmd, namespaceMeaning)
	cmdutil.DurationVarP(cmd.Flags(), &o.MaxAge, "max-age", "", "The last success may be this old (default: the settings' backup.staleAfter)")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Run gathers the CronJob and its Jobs, prints the status and fails when it is not healthy.
func (o *StatusOptions) Run(ctx context.Context) error {
	c, s, err := o.client()
	if err != nil {
		return err
	}
	maxAge := o.MaxAge
	if maxAge <= 0 {
		maxAge = s.Backup.StaleAfter.D()
	}
	cj, err := c.GetCronJob(ctx)
	if err != nil {
		return missing(err)
	}
	jobs, err := c.Jobs(ctx, cj)
	if err != nil {
		return err
	}
	now := time.Now()
	st := backup.StatusFrom(cj, jobs, now, maxAge)
	st.NewestDump = c.NewestDump(ctx, jobs)
	if err := o.PrintFlags.Print(o.streams.Out, st, func(w io.Writer) error {
		return backup.PrintStatus(w, st, now)
	}); err != nil {
		return err
	}
	if !st.Healthy() {
		return exitcode.Failed(errors.New(strings.Join(st.Problems, "; ")))
	}
	return nil
}
