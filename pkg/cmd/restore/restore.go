// Package restore wires `kubectl picluster restore`: the guided Postgres restore and
// the restore drills (package restore does the work).
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/restore"
)

// Options are the options of `restore`.
type Options struct {
	PrintFlags *cmdutil.PrintFlags
	Backup     string
	DryRun     bool
	Yes        bool
	Resume     bool
	Drill      bool
	Force      bool
	Jobs       int
	Timeout    time.Duration

	f       *factory.Factory
	streams genericiooptions.IOStreams
}

var dumpName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// NewCmdRestore returns the `restore` command.
func NewCmdRestore(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{PrintFlags: cmdutil.NewPrintFlags(output.Text), Backup: "latest", Jobs: 2, Timeout: time.Hour, f: f, streams: streams}
	cmd := &cobra.Command{
		Use:   "restore [--backup NAME|latest] [--dry-run] [--yes] [--resume] [--jobs N] [--timeout D] | --drill [--backup NAME|latest|all]",
		Short: "Restore Immich's Postgres from a dump on the NAS, guided and safe; or drill a restore",
		Long: `Restore Immich's database from a dump on the NAS in seven steps, printed first as
a plan with the kubectl commands that would do each by hand:

  1. preflight: fetch the dump, check its sha256, read it with pg_restore --list,
     check the extensions it needs against the server, count its rows, record
     Immich's replicas (nothing is changed before you confirm);
  2. restore point: a fresh dump of the live database, beside the backups;
  3. scale Immich's Deployments to 0 and wait for their pods to go;
  4. restore in a Job: extensions first, the search_path fix for Immich's
     earthdistance objects, pg_restore --clean --if-exists --no-owner --jobs N;
  5. verify: every table of the dump is there with the dump's row count;
  6. scale Immich back to the recorded replicas and wait for the rollout;
  7. health: Immich's pods Ready and its Prometheus targets up.

You confirm by typing the database's name, unless --yes. A failure or Ctrl-C after
step 3 scales Immich back up, and after step 4 began restores the restore point
first; every exit says in one line what state the cluster is in and what to type
next. Progress is recorded in a ConfigMap beside the backup CronJob: --resume
continues a restore that was cut off (a crash, a closed laptop, SIGKILL). One
restore runs at a time (a Lease); --force takes over a Lease whose holder stopped
renewing it.

--dry-run prints the plan and changes nothing at all. --drill restores the dump
(or --backup all: every dump) into a scratch database on the same server, never
the live one, compares every table's rows with the dump's, drops it, and exits 1
on any difference: a backup is proven only by restoring it.`,
		Example: cmdutil.Examples(
			"kubectl picluster restore --dry-run",
			"kubectl picluster restore --backup immich-20261129T030000Z.pgdump",
			"kubectl picluster restore --backup latest --yes --jobs 2",
			"kubectl picluster restore --resume",
			"kubectl picluster restore --drill --backup all",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate),
	}
	cmdutil.NamespaceOverrides(cmd, "the backup CronJob, the restore's Jobs, progress ConfigMap and Lease are looked for in this namespace instead of namespaces.backup")
	cmdutil.OnInterrupt(cmd, "nothing was changed")
	fl := cmd.Flags()
	fl.StringVar(&o.Backup, "backup", o.Backup, "The dump to restore: a name from backup list, or latest (with --drill also all)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Print the plan and change nothing")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for the database's name before changing anything")
	fl.BoolVar(&o.Resume, "resume", false, "Continue the restore that was cut off, from the step after the last one done")
	fl.BoolVar(&o.Drill, "drill", false, "Restore into a scratch database and compare every table's rows with the dump's; the live database is not touched")
	fl.BoolVar(&o.Force, "force", false, "Take over the restore Lease of a restore whose process stopped renewing it")
	fl.IntVar(&o.Jobs, "jobs", o.Jobs, "pg_restore --jobs: tables loaded and indexes built in parallel (2 restored an Immich-like dump 1.3 times as fast as 1 on two cores: hack/bench-restore.sh)")
	cmdutil.DurationVarP(fl, &o.Timeout, "timeout", "", "Bound each step's Job and wait (its failure then puts the cluster back)")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Validate checks the flags together.
func (o *Options) Validate() error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	if o.Jobs < 1 || o.Jobs > 64 {
		return exitcode.BadUsage(fmt.Errorf("--jobs %d: must be 1 to 64", o.Jobs))
	}
	if o.Timeout <= 0 {
		return exitcode.BadUsage(fmt.Errorf("--timeout must be more than 0"))
	}
	if !dumpName.MatchString(o.Backup) {
		return exitcode.BadUsage(fmt.Errorf("--backup %q is not a dump name (backup list shows them) nor latest", o.Backup))
	}
	switch {
	case o.Backup == "all" && !o.Drill:
		return exitcode.BadUsage(errors.New("--backup all needs --drill: a restore restores one dump"))
	case o.Drill && (o.Resume || o.DryRun || o.Yes || o.Force):
		return exitcode.BadUsage(errors.New("--drill takes no --resume, --dry-run, --yes or --force: it changes nothing but a scratch database"))
	case o.Resume && o.DryRun:
		return exitcode.BadUsage(errors.New("--resume and --dry-run: use restore --dry-run to see the plan, then --resume"))
	}
	return nil
}

// restorer builds the Restorer from the settings (or -n).
func (o *Options) restorer(progress io.Writer) (*restore.Restorer, error) {
	s, err := o.f.Settings()
	if err != nil {
		return nil, err
	}
	kube, err := o.f.KubeClient()
	if err != nil {
		return nil, err
	}
	ns := s.Namespaces.Backup
	if given, ok := cmdutil.GivenNamespace(o.f.Flags()); ok {
		ns = given
	}
	r := &restore.Restorer{
		Backup:          &backup.Client{Kube: kube, Namespace: ns, CronJob: s.Backup.CronJob},
		Kube:            kube,
		ImmichNamespace: s.Namespaces.Immich,
		Deployments:     s.Immich.Deployments,
		MetricsJob:      s.Immich.MetricsService,
		Jobs:            o.Jobs,
		Timeout:         o.Timeout,
		Force:           o.Force,
		Progress:        progress,
	}
	r.Targets = func(ctx context.Context) ([]prometheus.Target, error) {
		p, err := o.f.Prometheus()
		if err != nil {
			return nil, err
		}
		return p.ActiveTargets(ctx)
	}
	return r, nil
}

// Run restores, resumes, drills or prints the plan.
func (o *Options) Run(ctx context.Context) error {
	progress := o.streams.Out
	if o.PrintFlags.Structured() {
		progress = o.streams.ErrOut
	}
	r, err := o.restorer(progress)
	if err != nil {
		return err
	}
	switch {
	case o.Drill:
		return o.drill(ctx, r)
	case o.DryRun:
		p, err := r.DryRun(ctx, o.Backup)
		if err != nil {
			return classify(err)
		}
		return o.PrintFlags.Print(o.streams.Out, p, func(w io.Writer) error {
			if p.Unfinished != nil {
				fmt.Fprintf(o.streams.ErrOut, "Warning: restore %s stopped after step %q; a new restore is refused until it is continued with --resume.\n", p.Unfinished.ID, p.Unfinished.Done)
			}
			if err := restore.PrintPlan(w, p); err != nil {
				return err
			}
			_, err := fmt.Fprintln(w, "\nDry run: nothing was changed.")
			return err
		})
	}
	// Putting the cluster back after an interrupt may take a restore's time.
	cmdutil.SetCleanupGrace(2*o.Timeout + time.Minute)
	if !o.Yes {
		r.Confirm = o.confirm
	}
	var rep *restore.Report
	if o.Resume {
		rep, err = r.Resume(ctx)
	} else {
		if !o.PrintFlags.Structured() {
			if p, perr := r.DryRun(ctx, o.Backup); perr == nil && p.Unfinished == nil {
				_ = restore.PrintPlan(progress, p)
				fmt.Fprintln(progress)
			}
		}
		rep, err = r.Run(ctx, o.Backup)
	}
	return o.finish(ctx, rep, err)
}

// finish prints the report and turns the outcome into the exit: the cluster's state
// in one line and what to type next, always.
func (o *Options) finish(ctx context.Context, rep *restore.Report, err error) error {
	if rep == nil {
		return classify(err)
	}
	if perr := o.PrintFlags.Print(o.streams.Out, rep, func(w io.Writer) error { return printReport(w, rep) }); perr != nil && err == nil {
		err = perr
	}
	state := rep.State
	if rep.Next != "" {
		state += "; next: " + rep.Next
	}
	if ierr := cmdutil.Interruption(ctx, state); ierr != nil {
		return ierr
	}
	if err != nil {
		if !o.PrintFlags.Structured() {
			fmt.Fprintf(o.streams.ErrOut, "State: %s\n", state)
		}
		return classify(err)
	}
	return nil
}

// confirm asks for the database's name after preflight.
func (o *Options) confirm(ctx context.Context, in *restore.Inspection, st *restore.State) error {
	w := o.streams.ErrOut
	fmt.Fprintf(w, "\nThis replaces every table of database %s with dump %s (Immich goes down meanwhile: %s).\nType the database's name to restore it: ", st.Database, in.Name, restore.ReplicasText(st.Replicas))
	answer, err := cmdutil.ReadLine(ctx, o.streams.In)
	if ierr := cmdutil.Interruption(ctx, "nothing was changed"); ierr != nil {
		fmt.Fprintln(w)
		return ierr
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the answer: %w", err)
	}
	if strings.TrimSpace(answer) == st.Database {
		return nil
	}
	if answer == "" {
		fmt.Fprintln(w)
		return fmt.Errorf("%w: no answer on stdin (use --yes to restore without asking); nothing was changed", restore.ErrDeclined)
	}
	return fmt.Errorf("%w: %q is not %s; nothing was changed", restore.ErrDeclined, strings.TrimSpace(answer), st.Database)
}

// classify maps the restore's errors to exit codes.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return exitcode.TimedOut(err)
	case errors.Is(err, backup.ErrCronJobMissing):
		return exitcode.BadUsage(fmt.Errorf("%w: install it with kubectl picluster install --component backup", err))
	case errors.Is(err, backup.ErrSecretMissing), errors.Is(err, backup.ErrUnknownDump),
		errors.Is(err, restore.ErrUnfinished), errors.Is(err, restore.ErrNothingToResume),
		errors.Is(err, restore.ErrDeploymentMissing):
		return exitcode.BadUsage(err)
	}
	return exitcode.Failed(err)
}

// printReport writes the outcome as text.
func printReport(w io.Writer, rep *restore.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRestore %s of %s into %s: %s\n", rep.ID, rep.Backup, rep.Database, rep.Phase)
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "  %-13s %-7s %6.1fs  %s\n", s.Step, s.Status, s.Seconds, s.Detail)
	}
	if rep.RolledBack {
		fmt.Fprintf(&b, "Rolled back to restore point %s.\n", rep.RestorePoint)
	}
	fmt.Fprintf(&b, "State: %s\n", rep.State)
	if rep.Next != "" {
		fmt.Fprintf(&b, "Next: %s\n", rep.Next)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// drill runs the drills of --backup (all: every dump on the NAS, newest first).
func (o *Options) drill(ctx context.Context, r *restore.Restorer) error {
	names := []string{o.Backup}
	if o.Backup == "all" {
		dumps, err := r.Backup.List(ctx)
		if err != nil {
			return classify(err)
		}
		if len(dumps) == 0 {
			return exitcode.Failed(errors.New("no dumps on the NAS to drill (kubectl picluster backup run makes one)"))
		}
		names = names[:0]
		for _, d := range dumps {
			if d.Checksum {
				names = append(names, d.Name)
			}
		}
	}
	var drills []*restore.Drill
	var failed []string
	for i, name := range names {
		fmt.Fprintf(o.streams.ErrOut, "[%d/%d] drill %s: restoring into a scratch database\n", i+1, len(names), name)
		d, err := r.Drill(ctx, name)
		if ierr := cmdutil.Interruption(ctx, "the drill's Job was deleted (its scratch database is dropped by the script)"); ierr != nil {
			return ierr
		}
		if d == nil {
			return classify(err)
		}
		drills = append(drills, d)
		if err != nil {
			failed = append(failed, d.Backup+": "+d.Error)
		}
	}
	if err := o.PrintFlags.Print(o.streams.Out, drills, func(w io.Writer) error { return restore.PrintDrills(w, drills) }); err != nil {
		return err
	}
	if len(failed) > 0 {
		return exitcode.Failed(fmt.Errorf("%w: %s", restore.ErrDrillFailed, strings.Join(failed, "; ")))
	}
	return nil
}
