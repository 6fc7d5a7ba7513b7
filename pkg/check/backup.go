package check

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Runbooks the backup checks point to (the bundle's alerts of the same names).
const (
	RunbookBackupStale     = "BackupStale"
	RunbookBackupJobFailed = "BackupJobFailed"
)

func backupChecks(e *Env) []Check {
	checks := []Check{
		{Category: CategoryBackup, Name: "cronjob", Run: e.checkCronJob},
		{Category: CategoryBackup, Name: "last-success", Run: e.checkLastSuccess},
		{Category: CategoryBackup, Name: "last-job", Run: e.checkLastJob},
	}
	if e.Settings != nil && e.Settings.RestoreDrill.Enabled {
		checks = append(checks, Check{Category: CategoryBackup, Name: "restore-drill", Run: e.checkDrill})
	}
	return checks
}

func (e *Env) getCronJob(ctx context.Context) (*batchv1.CronJob, error) {
	return e.cronJob.get(func() (*batchv1.CronJob, error) {
		return e.Kube.BatchV1().CronJobs(e.Settings.Namespaces.Backup).Get(ctx, e.Settings.Backup.CronJob, metav1.GetOptions{})
	})
}

// getJobs lists the Jobs of the backup namespace once for the backup's and the drill's
// checks.
func (e *Env) getJobs(ctx context.Context) ([]batchv1.Job, error) {
	return e.jobs.get(func() ([]batchv1.Job, error) {
		list, err := e.Kube.BatchV1().Jobs(e.Settings.Namespaces.Backup).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	})
}

func (e *Env) checkCronJob(ctx context.Context) Result {
	cj, err := e.getCronJob(ctx)
	return EvaluateCronJob(e.Settings.Namespaces.Backup, e.Settings.Backup.CronJob, cj, err, e.now())
}

// EvaluateCronJob judges the backup CronJob: it must exist and not be suspended.
func EvaluateCronJob(ns, name string, cj *batchv1.CronJob, err error, now time.Time) Result {
	if apierrors.IsNotFound(err) {
		return Fail("kubectl picluster install --component backup", RunbookBackupStale, "CronJob %s/%s does not exist: nothing backs up Postgres", ns, name)
	}
	if err != nil {
		return Errored(err, "", RunbookBackupStale, "read CronJob %s/%s", ns, name)
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return Fail(fmt.Sprintf(`kubectl -n %s patch cronjob %s -p '{"spec":{"suspend":false}}'`, ns, name), RunbookBackupStale,
			"CronJob %s/%s is suspended: no backup runs", ns, name)
	}
	tz := "the controller's time zone"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	msg := fmt.Sprintf("CronJob %s/%s runs on %q (%s)", ns, name, cj.Spec.Schedule, tz)
	if cj.Status.LastScheduleTime != nil {
		msg += fmt.Sprintf(", last scheduled %s ago", age(now, cj.Status.LastScheduleTime.Time))
	}
	return OK("%s", msg)
}

func (e *Env) checkLastSuccess(ctx context.Context) Result {
	ns, name := e.Settings.Namespaces.Backup, e.Settings.Backup.CronJob
	var (
		wg       sync.WaitGroup
		cj       *batchv1.CronJob
		cjErr    error
		metric   time.Time
		promErr  error
		promUsed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cj, cjErr = e.getCronJob(ctx)
	}()
	if c, err := e.promClient(); err == nil {
		promUsed = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf(`max(kube_cronjob_status_last_successful_time{namespace=%q, cronjob=%q})`, ns, name)
			vec, err := c.Vector(ctx, q, e.now())
			if err != nil {
				promErr = err
				return
			}
			if len(vec) > 0 && vec[0].Value > 0 {
				metric = time.Unix(int64(vec[0].Value), 0)
			}
		}()
	}
	wg.Wait()
	in := LastSuccessInput{Namespace: ns, Name: name, StaleAfter: e.Settings.Backup.StaleAfter.D(), Now: e.now(), MetricTime: metric, MetricErr: promErr}
	if !promUsed {
		in.MetricErr = e.PrometheusErr
	}
	if cjErr == nil && cj.Status.LastSuccessfulTime != nil {
		in.StatusTime = cj.Status.LastSuccessfulTime.Time
	}
	in.StatusErr = cjErr
	return EvaluateLastSuccess(in)
}

// LastSuccessInput is what EvaluateLastSuccess judges: the CronJob's own
// lastSuccessfulTime and kube-state-metrics' kube_cronjob_status_last_successful_time.
type LastSuccessInput struct {
	Namespace, Name string
	StaleAfter      time.Duration
	Now             time.Time
	StatusTime      time.Time
	StatusErr       error
	MetricTime      time.Time
	MetricErr       error
}

// EvaluateLastSuccess judges the newest evidence of a successful backup: it must
// be younger than the staleness threshold. Either source is enough.
func EvaluateLastSuccess(in LastSuccessInput) Result {
	ref := in.Namespace + "/" + in.Name
	hint := runBackupHint(in.Namespace, in.Name)
	if in.StatusErr != nil && !apierrors.IsNotFound(in.StatusErr) && in.MetricTime.IsZero() {
		return Errored(in.StatusErr, hint, RunbookBackupStale, "read CronJob %s", ref)
	}
	newest, source := in.StatusTime, "CronJob status"
	if in.MetricTime.After(newest) {
		newest, source = in.MetricTime, "kube_cronjob_status_last_successful_time"
	}
	if newest.IsZero() {
		return Fail(hint, RunbookBackupStale, "no backup of CronJob %s has ever succeeded", ref)
	}
	if a := in.Now.Sub(newest); a > in.StaleAfter {
		return Fail(hint, RunbookBackupStale, "the last successful backup of CronJob %s is %s old (stale after %s, from %s)",
			ref, age(in.Now, newest), formatDays(in.StaleAfter), source)
	}
	return OK("the last successful backup of CronJob %s is %s old (from %s)", ref, age(in.Now, newest), source)
}

// runBackupHint is the runbook's way to run a backup now and watch it: the plugin's
// command, and the kubectl steps it takes for a host without the plugin.
func runBackupHint(ns, cronJob string) string {
	return fmt.Sprintf("kubectl picluster backup run --follow (by hand: kubectl -n %[1]s create job --from=cronjob/%[2]s %[2]s-manual-$(date +%%s), then kubectl -n %[1]s wait --for=condition=complete job/<that name>)", ns, cronJob)
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.String()
}

func (e *Env) checkLastJob(ctx context.Context) Result {
	ns, name := e.Settings.Namespaces.Backup, e.Settings.Backup.CronJob
	jobs, err := e.getJobs(ctx)
	return EvaluateLastJob(ns, name, jobs, err, e.now())
}

// EvaluateLastJob judges the newest Job of the CronJob (scheduled or started by
// `backup run`, both owned by it): it must not have failed.
func EvaluateLastJob(ns, cronJob string, jobs []batchv1.Job, err error, now time.Time) Result {
	if err != nil {
		return Errored(err, "", RunbookBackupJobFailed, "list the Jobs in %s", ns)
	}
	last := newestJob(jobs, cronJob)
	if last == nil {
		return Warn(runBackupHint(ns, cronJob), RunbookBackupJobFailed, "CronJob %s/%s has no Job (none ran yet, or all were cleaned up)", ns, cronJob)
	}
	logs := fmt.Sprintf("kubectl -n %s logs job/%s; then %s", ns, last.Name, runBackupHint(ns, cronJob))
	switch c := finished(last); {
	case c == nil:
	case c.Type == batchv1.JobFailed:
		return Fail(logs, RunbookBackupJobFailed, "the last backup Job %s/%s failed (%s): %s", ns, last.Name, c.Reason, c.Message)
	default:
		return OK("the last backup Job %s/%s succeeded %s ago", ns, last.Name, age(now, c.LastTransitionTime.Time))
	}
	return OK("the last backup Job %s/%s is running (started %s ago)", ns, last.Name, age(now, last.CreationTimestamp.Time))
}

func ownedByCronJob(j *batchv1.Job, cronJob string) bool {
	for _, o := range j.OwnerReferences {
		if o.Kind == "CronJob" && o.Name == cronJob {
			return true
		}
	}
	return false
}
