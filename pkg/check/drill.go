package check

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Runbooks the drill check points to (the restore-drill component's alerts).
const (
	RunbookRestoreDrillFailed = "RestoreDrillFailed"
	RunbookRestoreDrillStale  = "RestoreDrillStale"
)

func (e *Env) checkDrill(ctx context.Context) Result {
	in := DrillInput{Namespace: e.Settings.Namespaces.Backup, Name: e.Settings.RestoreDrill.CronJob,
		StaleAfter: e.Settings.RestoreDrill.StaleAfter.D(), Now: e.now()}
	in.CronJob, in.Err = e.Kube.BatchV1().CronJobs(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
	if in.Err == nil {
		in.Jobs, in.Err = e.getJobs(ctx)
	}
	return EvaluateDrill(in)
}

// DrillInput is what EvaluateDrill judges: the drill CronJob and the Jobs of its
// namespace (scheduled drills and ones started from it by hand).
type DrillInput struct {
	Namespace, Name string
	CronJob         *batchv1.CronJob
	Jobs            []batchv1.Job
	Err             error
	StaleAfter      time.Duration
	Now             time.Time
}

// EvaluateDrill judges the restore drill (restoreDrill.enabled): its CronJob exists
// and runs, and its newest drill passed within StaleAfter, as the RestoreDrillFailed
// and RestoreDrillStale alerts do; a backup is proven only by restoring it.
func EvaluateDrill(in DrillInput) Result {
	ref := in.Namespace + "/" + in.Name
	runNow := fmt.Sprintf("kubectl picluster restore --drill (or the CronJob's own: kubectl -n %[1]s create job --from=cronjob/%[2]s %[2]s-manual-$(date +%%s))", in.Namespace, in.Name)
	if apierrors.IsNotFound(in.Err) {
		return Fail("kubectl picluster install --component restore-drill", RunbookRestoreDrillStale,
			"restoreDrill.enabled is set, but CronJob %s does not exist: no drill proves the backups", ref)
	}
	if in.Err != nil {
		return Errored(in.Err, "", RunbookRestoreDrillStale, "read the restore drill %s", ref)
	}
	if s := in.CronJob.Spec.Suspend; s != nil && *s {
		return Fail(fmt.Sprintf(`kubectl -n %s patch cronjob %s -p '{"spec":{"suspend":false}}'`, in.Namespace, in.Name), RunbookRestoreDrillStale,
			"CronJob %s is suspended: no drill runs", ref)
	}
	passed := time.Time{}
	if last := newestJob(in.Jobs, in.Name); last != nil {
		switch c := finished(last); {
		case c == nil:
			return OK("restore drill %s/%s is running (started %s ago)", in.Namespace, last.Name, age(in.Now, last.CreationTimestamp.Time))
		case c.Type == batchv1.JobFailed:
			return Fail(fmt.Sprintf("kubectl -n %s logs job/%s --all-containers; then %s", in.Namespace, last.Name, runNow), RunbookRestoreDrillFailed,
				"the last restore drill %s/%s failed %s ago (%s): %s", in.Namespace, last.Name, age(in.Now, c.LastTransitionTime.Time), c.Reason, c.Message)
		default:
			passed = c.LastTransitionTime.Time
		}
	} else if t := in.CronJob.Status.LastSuccessfulTime; t != nil {
		// its Jobs were cleaned up: the CronJob's record of the last success
		passed = t.Time
	}
	if passed.IsZero() {
		return Warn(runNow, RunbookRestoreDrillStale, "no restore drill of CronJob %s has run yet", ref)
	}
	if a := in.Now.Sub(passed); a > in.StaleAfter {
		return Fail(runNow, RunbookRestoreDrillStale, "the last passed restore drill of CronJob %s is %s old (stale after %s)", ref, age(in.Now, passed), formatDays(in.StaleAfter))
	}
	return OK("the last restore drill of CronJob %s passed %s ago", ref, age(in.Now, passed))
}

// newestJob is the newest of the Jobs owned by cronJob (nil without any).
func newestJob(jobs []batchv1.Job, cronJob string) *batchv1.Job {
	var last *batchv1.Job
	for i := range jobs {
		j := &jobs[i]
		if !ownedByCronJob(j, cronJob) {
			continue
		}
		if last == nil || j.CreationTimestamp.After(last.CreationTimestamp.Time) ||
			(j.CreationTimestamp.Equal(&last.CreationTimestamp) && j.Name > last.Name) {
			last = j
		}
	}
	return last
}

// finished is the Job's Complete or Failed condition (nil while it runs).
func finished(j *batchv1.Job) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}
