package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// toolTimeout is how long list and verify wait for their Job by default.
const toolTimeout = 5 * time.Minute

// toolJobState is what list and verify leave when interrupted.
const toolJobState = "the short-lived Job was deleted (failing that, the server removes it within 10 minutes)"

// ListOptions are the options of `backup list`.
type ListOptions struct {
	PrintFlags *cmdutil.PrintFlags
	Timeout    time.Duration
	common
}

func newCmdList(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{PrintFlags: cmdutil.NewPrintFlags(output.Table), Timeout: toolTimeout, common: common{f: f, streams: streams}}
	cmd := &cobra.Command{
		Use:     "list [-o FORMAT]",
		Aliases: []string{"ls"},
		Short:   "List the dumps on the NAS: name, size, time, whether the checksum is there",
		Long: `List the database's dumps on the NAS, newest first, with their size, the time
they were made and whether their .sha256 is beside them (the mark of a complete
upload). It runs rsync --list-only in a short-lived Job with the backup's own
upload image and SSH Secret (an rsync-only NAS account is enough), and deletes
that Job afterwards.`,
		Example: cmdutil.Examples(
			"kubectl picluster backup list",
			"kubectl picluster backup list -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.PrintFlags.Validate),
	}
	cmdutil.NamespaceOverrides(cmd, namespaceMeaning)
	cmdutil.OnInterrupt(cmd, toolJobState)
	cmdutil.DurationVarP(cmd.Flags(), &o.Timeout, "timeout", "", "Give up after this long (exit 124); the Job is deleted")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Run lists the dumps.
func (o *ListOptions) Run(ctx context.Context) error {
	c, _, err := o.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dumps, err := c.List(ctx)
	if err != nil {
		return nasError(err, o.Timeout)
	}
	return o.PrintFlags.Print(o.streams.Out, dumps, func(w io.Writer) error {
		if len(dumps) == 0 {
			fmt.Fprintln(o.streams.ErrOut, "No dumps on the NAS.")
			return nil
		}
		return backup.PrintDumps(w, dumps)
	})
}

// nasError classifies the errors of list and verify: a missing CronJob is a usage
// error, a Job that failed (the NAS, the dump) a failure with its last lines, running
// out of --timeout 124.
func nasError(err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return exitcode.TimedOut(fmt.Errorf("the short-lived Job did not end in time (--timeout %s); it was deleted: %w", timeout, err))
	}
	if errors.Is(err, backup.ErrSecretMissing) || errors.Is(err, backup.ErrUnknownDump) {
		return exitcode.BadUsage(err)
	}
	var f *backup.Failure
	if errors.As(err, &f) {
		msg := err.Error()
		for _, l := range f.LastLines {
			msg += "\n  " + l
		}
		return exitcode.Failed(errors.New(msg))
	}
	return missing(err)
}

// VerifyOptions are the options of `backup verify`.
type VerifyOptions struct {
	PrintFlags *cmdutil.PrintFlags
	Timeout    time.Duration
	name       string
	common
}

var dumpName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func newCmdVerify(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerifyOptions{PrintFlags: cmdutil.NewPrintFlags(output.Text), Timeout: toolTimeout, common: common{f: f, streams: streams}}
	cmd := &cobra.Command{
		Use:   "verify NAME|latest [-o FORMAT]",
		Short: "Fetch a dump from the NAS, check its sha256 and read it with pg_restore --list",
		Long: `Fetch the dump NAME (or the latest complete one) from the NAS in a short-lived
Job, check it against its stored sha256 and read its archive with
pg_restore --list: print the number of archive entries, the tables with data and
the pg_dump and server versions the archive records. The Job is deleted
afterwards. Exit 1 when the dump is missing, corrupt or truncated, or its
checksum differs, with the reason.`,
		Example: cmdutil.Examples(
			"kubectl picluster backup verify latest",
			"kubectl picluster backup verify latest -o json",
		),
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.CompleteAndRun(o.Complete, o.Run),
	}
	cmdutil.NamespaceOverrides(cmd, namespaceMeaning)
	cmdutil.OnInterrupt(cmd, toolJobState)
	cmdutil.DurationVarP(cmd.Flags(), &o.Timeout, "timeout", "", "Give up after this long (exit 124); the Job is deleted")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete checks the output format and the dump's name.
func (o *VerifyOptions) Complete(args []string) error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	o.name = args[0]
	if !dumpName.MatchString(o.name) {
		return exitcode.BadUsage(fmt.Errorf("%q is not a dump name (backup list shows them) nor latest", o.name))
	}
	return nil
}

// Run verifies the dump.
func (o *VerifyOptions) Run(ctx context.Context) error {
	c, _, err := o.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	v, err := c.Verify(ctx, o.name)
	if err != nil {
		return nasError(err, o.Timeout)
	}
	return o.PrintFlags.Print(o.streams.Out, v, func(w io.Writer) error {
		return backup.PrintVerification(w, v)
	})
}
