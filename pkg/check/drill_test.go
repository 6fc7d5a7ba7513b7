package check

import (
	"errors"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// The drill's verdicts; the bed's drill test runs `check` on a real drill CronJob.
func TestEvaluateDrill(t *testing.T) {
	job := func(name string, ended time.Duration, cond batchv1.JobConditionType) batchv1.Job {
		j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{
			Name: name, CreationTimestamp: metav1.Time{Time: now.Add(-ended - 2*time.Minute)},
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "postgres-restore-drill"}},
		}}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: metav1.Time{Time: now.Add(-ended)}}}
		}
		return j
	}
	cronJob := func(suspend bool, lastSuccess time.Duration) *batchv1.CronJob {
		cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Suspend: ptr.To(suspend)}}
		if lastSuccess > 0 {
			cj.Status.LastSuccessfulTime = &metav1.Time{Time: now.Add(-lastSuccess)}
		}
		return cj
	}
	day := 24 * time.Hour
	tests := map[string]struct {
		cj   *batchv1.CronJob
		jobs []batchv1.Job
		err  error
		want verdict
	}{
		"passed":                                 {cj: cronJob(false, 0), jobs: []batchv1.Job{job("d-1", 9*day, batchv1.JobFailed), job("d-2", 2*day, batchv1.JobComplete)}, want: verdict{StatusOK, "", "passed 2d ago"}},
		"failed":                                 {cj: cronJob(false, 9*day), jobs: []batchv1.Job{job("d-1", 9*day, batchv1.JobComplete), job("d-2", 2*day, batchv1.JobFailed)}, want: verdict{StatusFailure, RunbookRestoreDrillFailed, "the last restore drill backup-jobs/d-2 failed 2d ago (BackoffLimitExceeded)"}},
		"stale":                                  {cj: cronJob(false, 0), jobs: []batchv1.Job{job("d-1", 9*day, batchv1.JobComplete)}, want: verdict{StatusFailure, RunbookRestoreDrillStale, "is 9d old (stale after 8d)"}},
		"running":                                {cj: cronJob(false, 0), jobs: []batchv1.Job{job("d-1", 9*day, batchv1.JobComplete), job("d-2", 0, "")}, want: verdict{StatusOK, "", "d-2 is running"}},
		"jobs cleaned up, the CronJob remembers": {cj: cronJob(false, 3*day), want: verdict{StatusOK, "", "passed 3d ago"}},
		"jobs cleaned up, the CronJob remembers stale": {cj: cronJob(false, 10*day), want: verdict{StatusFailure, RunbookRestoreDrillStale, "10d old"}},
		"never ran":     {cj: cronJob(false, 0), jobs: []batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Name: "backup-1", OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "postgres-backup"}}}}}, want: verdict{StatusWarning, RunbookRestoreDrillStale, "no restore drill of CronJob backup-jobs/postgres-restore-drill has run yet"}},
		"suspended":     {cj: cronJob(true, day), want: verdict{StatusFailure, RunbookRestoreDrillStale, "is suspended: no drill runs"}},
		"not installed": {err: apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "postgres-restore-drill"), want: verdict{StatusFailure, RunbookRestoreDrillStale, "does not exist: no drill proves the backups"}},
		"error":         {err: errors.New("boom"), want: verdict{StatusFailure, RunbookRestoreDrillStale, "read the restore drill backup-jobs/postgres-restore-drill: boom"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateDrill(DrillInput{Namespace: "backup-jobs", Name: "postgres-restore-drill",
				CronJob: tc.cj, Jobs: tc.jobs, Err: tc.err, StaleAfter: 8 * day, Now: now}))
		})
	}
}
