package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

// Errors a restore ends with; the command maps them to exit codes.
var (
	// ErrRefused: preflight refused the dump or the server (nothing was changed).
	ErrRefused = errors.New("preflight refused the restore")
	// ErrUnfinished: a restore was cut off; it must be resumed (or is being).
	ErrUnfinished = errors.New("a restore was cut off")
	// ErrNothingToResume: --resume found no restore to continue.
	ErrNothingToResume = errors.New("no restore to resume")
	// ErrDeclined: the operator did not confirm (nothing was changed).
	ErrDeclined = errors.New("the restore was not confirmed")
	// ErrUnhealthy: the data is restored and Immich scaled up, but health found a problem.
	ErrUnhealthy = errors.New("immich is not healthy after the restore")
)

// readTook, restoreTook and countTook are restore.sh's lines with the time it read the
// dump's data section (when it was not given the rows), pg_restore's and the count's.
var (
	readTook    = regexp.MustCompile(`restore: read the dump's data section in ([0-9.]+)s`)
	restoreTook = regexp.MustCompile(`restore: pg_restore done in ([0-9.]+)s`)
	countTook   = regexp.MustCompile(`restore: counted the restored rows of \d+ tables in ([0-9.]+)s`)
)

// healthWait is how long the health step waits for Immich's targets to come up.
const healthWait = 90 * time.Second

// Restorer runs restores and drills against one cluster.
type Restorer struct {
	// Backup reaches the backup CronJob (its namespace holds the restore's Jobs,
	// its progress ConfigMap and its Lease).
	Backup          *backup.Client
	Kube            kubernetes.Interface
	ImmichNamespace string
	// Deployments are Immich's Deployments to scale down during the restore.
	Deployments []string
	// MetricsJob is the Prometheus job of Immich's metrics.
	MetricsJob string
	// Targets returns Prometheus' active targets (nil: health does not look).
	Targets func(ctx context.Context) ([]prometheus.Target, error)
	// Jobs is pg_restore's --jobs.
	Jobs int
	// Timeout bounds each Job and each wait.
	Timeout time.Duration
	// Force takes over a Lease whose holder stopped renewing it.
	Force bool
	// Progress receives a line per step and what the steps wait for.
	Progress io.Writer
	// Confirm is asked after preflight, before anything changes; an error stops the
	// restore with nothing changed.
	Confirm func(ctx context.Context, in *Inspection, st *State) error

	selectors map[string]string
	st        *State
	store     *store
	lease     *lease
	report    *Report
}

// StepReport is how one step went.
type StepReport struct {
	Step Step `json:"step"`
	// Status is done, failed, skipped (already done by the process that was cut off)
	// or warning.
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Detail  string  `json:"detail,omitempty"`
}

// Report is the outcome of a restore.
type Report struct {
	ID           string           `json:"id"`
	Database     string           `json:"database"`
	Backup       string           `json:"backup"`
	RestorePoint string           `json:"restorePoint,omitempty"`
	Phase        Phase            `json:"phase"`
	Replicas     map[string]int32 `json:"replicas,omitempty"`
	Steps        []StepReport     `json:"steps"`
	Tables       []TableCheck     `json:"tables,omitempty"`
	// RolledBack tells that the restore point was restored after a failure.
	RolledBack bool   `json:"rolledBack,omitempty"`
	Error      string `json:"error,omitempty"`
	// State says in one line what state the cluster is in; Next what to type next.
	State string `json:"state"`
	Next  string `json:"next,omitempty"`
}

func (r *Restorer) progress() io.Writer {
	if r.Progress == nil {
		return io.Discard
	}
	return r.Progress
}

func (r *Restorer) timeout() time.Duration {
	if r.Timeout <= 0 {
		return time.Hour
	}
	return r.Timeout
}

// names of the restore's objects beside the CronJob
func (r *Restorer) objectName() string { return r.Backup.CronJob + "-restore" }

func (r *Restorer) init() {
	if r.store == nil {
		r.store = &store{kube: r.Kube, namespace: r.Backup.Namespace, name: r.objectName()}
	}
	if r.selectors == nil {
		r.selectors = map[string]string{}
	}
}

// Recorded returns the recorded restore (nil when there is none).
func (r *Restorer) Recorded(ctx context.Context) (*State, error) {
	r.init()
	return r.store.load(ctx)
}

// cronJob returns the backup CronJob and the database it dumps.
func (r *Restorer) cronJob(ctx context.Context) (*batchv1.CronJob, string, error) {
	cj, err := r.Backup.GetCronJob(ctx)
	if err != nil {
		return nil, "", err
	}
	db, err := database(cj)
	return cj, db, err
}

// database reads the database the CronJob dumps (PGDATABASE of its dump container).
func database(cj *batchv1.CronJob) (string, error) {
	c, err := backup.TemplateContainer(cj, backup.DumpContainer)
	if err != nil {
		return "", err
	}
	for _, e := range c.Env {
		if e.Name == "PGDATABASE" && e.Value != "" {
			return e.Value, nil
		}
	}
	return "", fmt.Errorf("cronjob %s/%s: container %s sets no PGDATABASE: reinstall it with kubectl picluster install --component backup", cj.Namespace, cj.Name, backup.DumpContainer)
}

// DryRun returns the plan of restoring name without changing anything: it only reads
// the CronJob, Immich's Deployments and the recorded restore.
func (r *Restorer) DryRun(ctx context.Context, name string) (*Plan, error) {
	r.init()
	_, db, err := r.cronJob(ctx)
	if err != nil {
		return nil, err
	}
	replicas, err := r.recordReplicas(ctx)
	if err != nil {
		return nil, err
	}
	p := r.MakePlan(db, name, replicas)
	if st, err := r.store.load(ctx); err == nil && st != nil && (st.Phase == Running || st.Phase == RollingBack) {
		p.Unfinished = st
	}
	return p, nil
}

// newID is a restore's ID: its start time and a random suffix.
func newID() string {
	return time.Now().UTC().Format("20060102-150405") + "-" + utilrand.String(5)
}

// Run restores dump name (or latest): the seven steps, the cluster put back on a
// failure or an interrupt. The Report is returned also with an error.
func (r *Restorer) Run(ctx context.Context, name string) (*Report, error) {
	r.init()
	if err := (&lease{kube: r.Kube, namespace: r.Backup.Namespace, name: r.objectName()}).busy(ctx); err != nil {
		return nil, err
	}
	prev, err := r.store.load(ctx)
	if err != nil {
		return nil, err
	}
	if prev != nil && (prev.Phase == Running || prev.Phase == RollingBack) {
		return nil, fmt.Errorf("%w: restore %s of %s stopped after step %q (%s, last recorded %s): continue it with kubectl picluster restore --resume",
			ErrUnfinished, prev.ID, prev.Backup, stepOrNone(prev.Done), prev.Phase, prev.Updated.Format(time.RFC3339))
	}
	cj, db, err := r.cronJob(ctx)
	if err != nil {
		return nil, err
	}
	st := &State{ID: newID(), Database: db, Backup: name, Label: dumpLabel(db, name), Jobs: r.jobs(), Phase: Running, Started: time.Now().UTC().Truncate(time.Second)}
	return r.drive(ctx, cj, st, false)
}

// Resume continues the recorded restore from the step after the last one done (a
// rollback that was cut off continues as a rollback).
func (r *Restorer) Resume(ctx context.Context) (*Report, error) {
	r.init()
	st, err := r.store.load(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil:
		return nil, fmt.Errorf("%w: no restore is recorded in configmap %s/%s", ErrNothingToResume, r.Backup.Namespace, r.objectName())
	case st.Phase == Succeeded:
		return nil, fmt.Errorf("%w: restore %s of %s finished at %s", ErrNothingToResume, st.ID, st.Backup, st.Updated.Format(time.RFC3339))
	case st.Phase == Failed:
		return nil, fmt.Errorf("%w: restore %s of %s failed at %s and the cluster was put back (%s)", ErrNothingToResume, st.ID, st.Backup, st.Updated.Format(time.RFC3339), st.Error)
	}
	cj, err := r.Backup.GetCronJob(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.progress(), "Resuming restore %s of %s after step %q (%s).\n", st.ID, st.Backup, stepOrNone(st.Done), st.Phase)
	if st.Jobs > 0 && r.Jobs == 0 {
		r.Jobs = st.Jobs
	}
	return r.drive(ctx, cj, st, true)
}

func stepOrNone(s Step) string {
	if s == "" {
		return "none"
	}
	return string(s)
}

// drive holds the Lease while it runs the steps after st.Done (or the rollback).
func (r *Restorer) drive(ctx context.Context, cj *batchv1.CronJob, st *State, resumed bool) (*Report, error) {
	r.st = st
	r.report = &Report{ID: st.ID, Database: st.Database, Backup: st.Backup, RestorePoint: st.RestorePoint, Replicas: st.Replicas, Steps: []StepReport{}}
	r.lease = &lease{kube: r.Kube, namespace: r.Backup.Namespace, name: r.objectName(), holder: st.ID}
	if err := r.lease.acquire(ctx, r.Force || resumed, r.progress()); err != nil {
		return nil, err
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	keepCtx, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		r.lease.keep(keepCtx, cancelRun)
	}()
	defer func() {
		stopKeep()
		<-kept
		r.lease.release(ctx)
	}()

	var err error
	if st.Phase == RollingBack {
		err = errors.New(st.Error)
		return r.finish(r.putBack(runCtx, StepRestore, err))
	}
	for step := next(st.Done); step != ""; step = next(step) {
		if err = r.runStep(runCtx, cj, step); err != nil {
			if errors.Is(context.Cause(runCtx), ErrLeaseLost) {
				return r.report, context.Cause(runCtx)
			}
			return r.finish(r.putBack(runCtx, step, err))
		}
	}
	st.Phase = Succeeded
	st.Job = ""
	if err := r.store.save(ctx, st); err != nil {
		return r.report, err
	}
	r.report.Phase = Succeeded
	r.report.State = fmt.Sprintf("database %s is restored from %s and verified; Immich runs at its recorded replicas (%s); restore point %s is on the NAS", st.Database, st.Backup, ReplicasText(st.Replicas), st.RestorePoint)
	for _, s := range r.report.Steps {
		if s.Status == "warning" {
			r.report.Next = "kubectl picluster check"
			return r.report, fmt.Errorf("%w: %s", ErrUnhealthy, s.Detail)
		}
	}
	return r.report, nil
}

func (r *Restorer) finish(err error) (*Report, error) {
	r.report.Phase = r.st.Phase
	r.report.Error = r.st.Error
	return r.report, err
}

// runStep runs one step and records it as done.
func (r *Restorer) runStep(ctx context.Context, cj *batchv1.CronJob, step Step) error {
	start := time.Now()
	fmt.Fprintf(r.progress(), "[%d/%d] %s\n", slices.Index(Steps, step)+1, len(Steps), stepTitle(step))
	var detail string
	var err error
	switch step {
	case StepPreflight:
		detail, err = r.preflight(ctx, cj)
	case StepRestorePoint:
		detail, err = r.restorePoint(ctx, cj)
	case StepScaleDown:
		detail, err = r.scaleDown(ctx)
	case StepRestore:
		detail, err = r.restore(ctx, cj)
	case StepVerify:
		detail, err = r.verify()
	case StepScaleUp:
		detail, err = r.scaleUp(ctx)
	case StepHealth:
		detail, err = r.health(ctx)
	}
	rep := StepReport{Step: step, Status: "done", Seconds: time.Since(start).Seconds(), Detail: detail}
	var warn *warning
	if errors.As(err, &warn) {
		rep.Status, rep.Detail, err = "warning", warn.msg, nil
	}
	if err != nil {
		rep.Status, rep.Detail = "failed", err.Error()
		r.report.Steps = append(r.report.Steps, rep)
		fmt.Fprintf(r.progress(), "      failed: %v\n", err)
		return err
	}
	r.report.Steps = append(r.report.Steps, rep)
	if detail != "" || rep.Status == "warning" {
		fmt.Fprintf(r.progress(), "      %s: %s (%.1fs)\n", rep.Status, rep.Detail, rep.Seconds)
	}
	r.st.Done, r.st.Job = step, ""
	return r.store.save(ctx, r.st)
}

// warning is a step's result that is not a failure but must be looked at.
type warning struct{ msg string }

func (w *warning) Error() string { return w.msg }

func stepTitle(s Step) string {
	switch s {
	case StepPreflight:
		return "preflight: the dump, its checksum and archive, the extensions it needs, the server, Immich's replicas"
	case StepRestorePoint:
		return "restore point: a fresh dump of the live database, stored beside the backups"
	case StepScaleDown:
		return "scale Immich down to 0 and wait for its pods to go"
	case StepRestore:
		return "restore the dump in a Job"
	case StepVerify:
		return "verify: every table of the dump, with the dump's rows"
	case StepScaleUp:
		return "scale Immich back up and wait for the rollout"
	case StepHealth:
		return "health: Immich's pods and targets"
	}
	return string(s)
}

// remember records the Job of the step under way, so that Resume can adopt it.
func (r *Restorer) remember(ctx context.Context) func(string) error {
	return func(name string) error {
		r.st.Job = name
		return r.store.save(ctx, r.st)
	}
}

// adopt names job after the Job recorded for the step (Resume), if any.
func (r *Restorer) adopt(job *batchv1.Job, purpose string) {
	if r.st.Job != "" && strings.Contains(r.st.Job, "-"+purpose+"-") {
		job.Name = r.st.Job
	}
}

func (r *Restorer) preflight(ctx context.Context, cj *batchv1.CronJob) (string, error) {
	st := r.st
	job, err := scriptJob(cj, st.ID, "inspect", st.Backup, st.Label, "inspect", 0, r.timeout())
	if err != nil {
		return "", err
	}
	out, _, err := r.runJob(ctx, job, "inspect", nil)
	if err != nil {
		return "", r.refusal(ctx, st.Backup, err)
	}
	in, ok := ParseInspect(out)
	if !ok || in.Name == "" {
		return "", fmt.Errorf("%w: the inspect Job printed no complete inspection of %s", ErrRefused, st.Backup)
	}
	if len(in.Missing) > 0 {
		return "", fmt.Errorf("%w: the server lacks extension(s) %s that dump %s needs; nothing was changed", ErrRefused, strings.Join(in.Missing, ", "), in.Name)
	}
	replicas, err := r.recordReplicas(ctx)
	if err != nil {
		return "", err
	}
	if err := r.recordSelectors(ctx); err != nil {
		return "", err
	}
	st.Backup, st.Label, st.Tables, st.Size, st.Extensions, st.Replicas = in.Name, dumpLabel(st.Database, in.Name), in.Tables, in.Size, in.Extensions, replicas
	r.report.Backup, r.report.Replicas = st.Backup, replicas
	var rows int64
	for _, n := range in.Tables {
		rows += n
	}
	detail := fmt.Sprintf("%s (%d bytes): checksum matches, %d tables with %d rows, extensions [%s] available on %s; Immich replicas %s",
		in.Name, in.Size, len(in.Tables), rows, strings.Join(in.Extensions, ", "), in.Server, ReplicasText(replicas))
	if r.Confirm != nil {
		if err := r.Confirm(ctx, in, st); err != nil {
			return "", err
		}
	}
	return detail, nil
}

// recordSelectors keeps the Deployments' pod selectors for the plan's commands.
func (r *Restorer) recordSelectors(ctx context.Context) error {
	for _, name := range r.Deployments {
		d, err := r.Kube.AppsV1().Deployments(r.ImmichNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read deployment %s/%s: %w", r.ImmichNamespace, name, err)
		}
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			r.selectors[name] = sel.String()
		}
	}
	return nil
}

// refusal explains why preflight's Job failed: the dump is not on the NAS, its
// checksum differs, pg_restore cannot read it, the server lacks an extension or
// cannot be reached.
func (r *Restorer) refusal(ctx context.Context, name string, err error) error {
	var je *JobError
	if !errors.As(err, &je) {
		return err
	}
	if unknown := r.Backup.UnknownDump(ctx, name, err); unknown != nil {
		return unknown
	}
	why := ""
	switch {
	case je.Container == "fetch":
		why = "the dump could not be fetched from the NAS or does not match its checksum"
	case je.ExitCode == exitUnreadable:
		why = "pg_restore cannot read the dump: corrupt or truncated"
	case je.ExitCode == exitMissingExtension:
		why = "the server lacks an extension the dump needs"
	case je.ExitCode == exitNoServer:
		why = "Postgres cannot be reached or refuses the login"
	default:
		why = "the inspection failed"
	}
	return fmt.Errorf("%w: %s; nothing was changed: %v\n  %s", ErrRefused, why, je.Failure, strings.Join(je.LastLines, "\n  "))
}

func (r *Restorer) restorePoint(ctx context.Context, cj *batchv1.CronJob) (string, error) {
	job, err := restorePointJob(cj, r.st.ID, r.timeout())
	if err != nil {
		return "", err
	}
	r.adopt(job, "restore-point")
	out, _, err := r.runJob(ctx, job, backup.DumpContainer, r.remember(ctx))
	if err != nil {
		return "", fmt.Errorf("make the restore point: %w", withLines(err))
	}
	m := dumpedLine.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("make the restore point: the dump container named no dump it wrote")
	}
	r.st.RestorePoint, r.report.RestorePoint = m[1], m[1]
	return m[1] + " uploaded and checked (pg_restore --list, sha256)", nil
}

func (r *Restorer) scaleDown(ctx context.Context) (string, error) {
	zero := zeroes(r.st.Replicas)
	if err := r.scale(ctx, zero); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	if err := r.waitRollout(wctx, zero, r.progress()); err != nil {
		return "", fmt.Errorf("wait for Immich's pods to go: %w", orCause(wctx, err))
	}
	return "Immich's Deployments at 0, their pods gone", nil
}

func (r *Restorer) restore(ctx context.Context, cj *batchv1.CronJob) (string, error) {
	st := r.st
	job, err := scriptJob(cj, st.ID, "restore", st.Backup, st.Label, "restore", st.Jobs, r.timeout(), dumpRows(st.Tables, st.Size)...)
	if err != nil {
		return "", err
	}
	r.adopt(job, "restore")
	st.Touched = true
	out, pod, err := r.runJob(ctx, job, "restore", r.remember(ctx))
	if err != nil {
		var je *JobError
		if errors.As(err, &je) {
			st.Checks, _ = ParseVerify(je.Log)
			switch je.ExitCode {
			case exitUnreadable, exitMissingExtension, exitNoServer:
				// refused before it touched the database
				st.Touched = false
			}
		}
		return "", fmt.Errorf("restore %s: %w", st.Backup, withLines(err))
	}
	checks, ok := ParseVerify(out)
	if !ok {
		return "", fmt.Errorf("restore %s: the restore Job ended without its verification", st.Backup)
	}
	st.Checks = checks
	fetch, fetched := ranFor(pod, "fetch")
	return restoreDetail(st.Jobs, out, fetch, fetched), nil
}

// restoreDetail says what the restore Job did and how long each part took: the fetch
// from the NAS (from the pod's status), the read of the data section, pg_restore and
// the count of the restored rows (restore.sh's own lines).
func restoreDetail(jobs int, log string, fetch time.Duration, fetched bool) string {
	var parts []string
	if fetched {
		parts = append(parts, fmt.Sprintf("fetched from the NAS in %s", fetch.Round(time.Second)))
	}
	if m := readTook.FindStringSubmatch(log); m != nil {
		parts = append(parts, "data section read in "+m[1]+"s")
	}
	took := ""
	if m := restoreTook.FindStringSubmatch(log); m != nil {
		took = " in " + m[1] + "s"
	}
	parts = append(parts, fmt.Sprintf("pg_restore --jobs %d done%s", jobs, took))
	if m := countTook.FindStringSubmatch(log); m != nil {
		parts = append(parts, "rows counted in "+m[1]+"s")
	}
	return strings.Join(parts, ", ")
}

func (r *Restorer) verify() (string, error) {
	checks := r.st.Checks
	if checks == nil {
		return "", fmt.Errorf("verify: the restore's table checks are not known to this process (the restore Job's log is gone): the restore is treated as failed")
	}
	r.report.Tables = checks
	if diff := Differences(checks); len(diff) > 0 {
		return "", fmt.Errorf("verify: %s", describe(diff))
	}
	seen := map[string]bool{}
	for _, c := range checks {
		seen[c.Table] = true
	}
	var missing []string
	for _, t := range sortedKeys(r.st.Tables) {
		if !seen[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("verify: tables of the dump not checked after the restore: %s", strings.Join(missing, ", "))
	}
	var rows int64
	for _, c := range checks {
		rows += c.Restored
	}
	return fmt.Sprintf("%d tables, %d rows, each equal to the dump's", len(checks), rows), nil
}

// describe names the tables that differ.
func describe(diff []TableCheck) string {
	var parts []string
	for _, c := range diff {
		if c.Result == "missing" {
			parts = append(parts, fmt.Sprintf("table %s is missing (dump: %d rows)", c.Table, c.Dump))
			continue
		}
		parts = append(parts, fmt.Sprintf("table %s has %d rows, the dump %d", c.Table, c.Restored, c.Dump))
	}
	return strings.Join(parts, "; ")
}

func (r *Restorer) scaleUp(ctx context.Context) (string, error) {
	if err := r.scale(ctx, r.st.Replicas); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	if err := r.waitRollout(wctx, r.st.Replicas, r.progress()); err != nil {
		return "", fmt.Errorf("wait for Immich's rollout: %w", orCause(wctx, err))
	}
	return "rolled out: " + ReplicasText(r.st.Replicas), nil
}

// health checks Immich after the restore: its Deployments available (the rollout)
// and, when Prometheus answers, its targets up, waiting up to healthWait for them.
func (r *Restorer) health(ctx context.Context) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	if err := r.waitRollout(wctx, r.st.Replicas, r.progress()); err != nil {
		return "", &warning{fmt.Sprintf("Immich's Deployments are not available: %v", err)}
	}
	if r.Targets == nil || r.MetricsJob == "" {
		return "Deployments available; Prometheus not asked", nil
	}
	deadline := time.Now().Add(healthWait)
	said := false
	for {
		targets, err := r.Targets(ctx)
		if err != nil {
			return fmt.Sprintf("Deployments available; Prometheus did not answer (%v), targets not checked", err), nil
		}
		var mine, down []string
		for _, t := range targets {
			if t.Job != r.MetricsJob {
				continue
			}
			mine = append(mine, t.Instance)
			if t.Health != "up" {
				down = append(down, t.Instance+" "+t.Health)
			}
		}
		switch {
		case len(mine) == 0:
			return fmt.Sprintf("Deployments available; Prometheus has no targets of job %s", r.MetricsJob), nil
		case len(down) == 0:
			return fmt.Sprintf("Deployments available; %d targets of job %s up", len(mine), r.MetricsJob), nil
		case time.Now().After(deadline):
			return "", &warning{fmt.Sprintf("Deployments available, but targets of job %s are not up after %s: %s", r.MetricsJob, healthWait, strings.Join(down, ", "))}
		}
		if !said {
			fmt.Fprintf(r.progress(), "  waiting for Immich's targets to come up: %s\n", strings.Join(down, ", "))
			said = true
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(5 * time.Second):
		}
	}
}

// putBack puts the cluster back after step failed with cause: the restore point is
// restored when the database was touched, then Immich is scaled up to its recorded
// replicas (always, once it was scaled down). It works on after an interrupt (ctx is
// only used for its values) and records every change of phase.
func (r *Restorer) putBack(ctx context.Context, step Step, cause error) error {
	st := r.st
	if step == StepPreflight {
		// nothing was changed, nor recorded
		st.Phase, st.Error = Failed, cause.Error()
		r.report.State = "nothing was changed: the database was not touched and Immich runs as before"
		return cause
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*r.timeout())
	defer cancel()
	scaled := slices.Index(Steps, step) >= slices.Index(Steps, StepScaleDown) && st.Replicas != nil
	st.Error = cause.Error()
	var rollback error
	if st.Touched {
		st.Phase = RollingBack
		_ = r.store.save(bctx, st)
		fmt.Fprintf(r.progress(), "Rolling back: restoring restore point %s.\n", st.RestorePoint)
		rollback = r.rollback(bctx)
		if rollback == nil {
			r.report.RolledBack = true
			st.Touched = false
		}
	}
	var up error
	if scaled {
		fmt.Fprintf(r.progress(), "Scaling Immich back up (%s).\n", ReplicasText(st.Replicas))
		if up = r.scale(bctx, st.Replicas); up == nil {
			up = r.waitRollout(bctx, st.Replicas, r.progress())
		}
	}
	st.Phase, st.Job = Failed, ""
	if rollback != nil || up != nil {
		// still to be finished by --resume
		st.Phase = RollingBack
		if !st.Touched {
			st.Phase = Running
		}
	}
	_ = r.store.save(bctx, st)
	switch {
	case rollback != nil:
		r.report.State = fmt.Sprintf("the restore failed and so did restoring the restore point %s: the database is in an unknown state and Immich %s", st.RestorePoint, upState(scaled, up, st.Replicas))
		r.report.Next = "kubectl picluster restore --resume"
		return fmt.Errorf("%w; restoring the restore point failed too: %v", cause, rollback)
	case up != nil:
		r.report.State = fmt.Sprintf("the database %s; Immich is NOT back up: %v", dbState(st, r.report.RolledBack), up)
		r.report.Next = "kubectl picluster restore --resume"
		return fmt.Errorf("%w; scaling Immich back up failed: %v", cause, up)
	}
	r.report.State = fmt.Sprintf("the database %s; Immich %s", dbState(st, r.report.RolledBack), upState(scaled, nil, st.Replicas))
	r.report.Next = fmt.Sprintf("kubectl picluster restore --backup %s (after fixing the cause above)", st.Backup)
	return cause
}

func dbState(st *State, rolledBack bool) string {
	if rolledBack {
		return fmt.Sprintf("is as restore point %s had it", st.RestorePoint)
	}
	return "was not touched"
}

func upState(scaled bool, up error, replicas map[string]int32) string {
	switch {
	case !scaled:
		return "was not scaled down"
	case up != nil:
		return "is NOT back up"
	}
	return fmt.Sprintf("is back at its recorded replicas (%s)", ReplicasText(replicas))
}

// rollback restores the restore point and checks it.
func (r *Restorer) rollback(ctx context.Context) error {
	st := r.st
	if st.RestorePoint == "" {
		return fmt.Errorf("no restore point was recorded")
	}
	cj, err := r.Backup.GetCronJob(ctx)
	if err != nil {
		return err
	}
	job, err := scriptJob(cj, st.ID, "rollback", st.RestorePoint, RestorePointLabel, "restore", st.Jobs, r.timeout())
	if err != nil {
		return err
	}
	r.adopt(job, "rollback")
	out, _, err := r.runJob(ctx, job, "rollback", r.remember(ctx))
	if err != nil {
		return fmt.Errorf("restore the restore point %s: %w", st.RestorePoint, withLines(err))
	}
	checks, ok := ParseVerify(out)
	if !ok {
		return fmt.Errorf("restore the restore point %s: no verification", st.RestorePoint)
	}
	if diff := Differences(checks); len(diff) > 0 {
		return fmt.Errorf("restore the restore point %s: %s", st.RestorePoint, describe(diff))
	}
	fmt.Fprintf(r.progress(), "      restore point %s restored: %d tables verified\n", st.RestorePoint, len(checks))
	return nil
}

// withLines adds a failed Job's last log lines to its error.
func withLines(err error) error {
	var je *JobError
	if errors.As(err, &je) && len(je.LastLines) > 0 {
		return fmt.Errorf("%w\n  %s", err, strings.Join(je.LastLines, "\n  "))
	}
	return err
}

// orCause prefers the cause of ctx's end (a signal, the lease lost) over err.
func orCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.DeadlineExceeded) {
			return c
		}
	}
	return err
}
