package backup

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// now is a Wednesday.
var now = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func cronJob(created time.Time, suspend bool, lastSuccess *time.Time) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres-backup", Namespace: "backup-jobs", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec:       batchv1.CronJobSpec{Schedule: "30 2 * * 0", TimeZone: ptr.To("Europe/Berlin"), Suspend: ptr.To(suspend)},
	}
	if lastSuccess != nil {
		cj.Status.LastSuccessfulTime = &metav1.Time{Time: *lastSuccess}
	}
	return cj
}

func job(name string, created time.Time, cond batchv1.JobConditionType, reason string) batchv1.Job {
	j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
	j.Status.StartTime = &metav1.Time{Time: created}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: metav1.NewTime(created.Add(time.Minute))}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: created.Add(time.Minute)}
		}
	}
	return j
}

func TestStatusFrom(t *testing.T) {
	day := 24 * time.Hour
	old := now.Add(-30 * day)
	tests := map[string]struct {
		cj       *batchv1.CronJob
		jobs     []batchv1.Job
		problems []string
		result   Result
	}{
		"fresh": {cj: cronJob(old, false, nil), jobs: []batchv1.Job{job("a", now.Add(-2*day), batchv1.JobComplete, "CompletionsReached")}, result: Complete},
		"stale": {cj: cronJob(old, false, ptr.To(now.Add(-9*day))),
			problems: []string{"the last successful backup is 9d old, more than the allowed 8d"}},
		"failed after a success": {cj: cronJob(old, false, ptr.To(now.Add(-3*day))),
			jobs:     []batchv1.Job{job("a", now.Add(-3*day), batchv1.JobComplete, ""), job("b", now.Add(-time.Hour), batchv1.JobFailed, "BackoffLimitExceeded")},
			problems: []string{"the last backup job b failed: BackoffLimitExceeded"}, result: Failed},
		"never run, young": {cj: cronJob(now.Add(-time.Hour), false, nil)},
		"never run, old": {cj: cronJob(old, false, nil),
			problems: []string{"no successful backup on record, and the CronJob is 30d old, more than the allowed 8d"}},
		"running": {cj: cronJob(now.Add(-time.Hour), false, nil), jobs: []batchv1.Job{job("a", now, "", "")}, result: Running},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := StatusFrom(tc.cj, tc.jobs, now, 8*day)
			want := tc.problems
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, s.Problems)
			assert.Equal(t, len(want) == 0, s.Healthy())
			if tc.result != "" {
				require.NotNil(t, s.LastJob)
				assert.Equal(t, tc.result, s.LastJob.Result)
			}
		})
	}
}

func TestNextRunInTheCronJobsTimeZone(t *testing.T) {
	// Sunday 2026-12-06 02:30 in Berlin (CET, UTC+1) is 01:30 UTC; in July (CEST) 00:30 UTC.
	next, err := NextRun("30 2 * * 0", "Europe/Berlin", now)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 12, 6, 1, 30, 0, 0, time.UTC), next.UTC())
	next, err = NextRun("30 2 * * 0", "Europe/Berlin", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 7, 5, 0, 30, 0, 0, time.UTC), next.UTC())
	next, err = NextRun("30 2 * * 0", "", now)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 12, 6, 2, 30, 0, 0, time.UTC), next)
}

func TestSuspendedHasNoNextRun(t *testing.T) {
	s := StatusFrom(cronJob(now, true, nil), nil, now, time.Hour)
	assert.True(t, s.Suspended)
	assert.Nil(t, s.NextRun)
	var buf bytes.Buffer
	require.NoError(t, PrintStatus(&buf, s, now))
	assert.Equal(t, "NAME              SCHEDULE     SUSPEND   NEXT RUN   LAST SUCCESS   LAST JOB   RESULT\npostgres-backup   30 2 * * 0   true      -          never          -          -\n", buf.String())
}

// TestStatusJSONShape keeps the JSON keys stable: cron jobs and scripts read them.
func TestStatusJSONShape(t *testing.T) {
	s := StatusFrom(cronJob(now.Add(-30*24*time.Hour), false, ptr.To(now.Add(-time.Hour))),
		[]batchv1.Job{job("postgres-backup-manual-abcde", now.Add(-2*time.Hour), batchv1.JobFailed, "BackoffLimitExceeded")}, now, 8*24*time.Hour)
	data, err := json.MarshalIndent(s, "", "  ")
	require.NoError(t, err)
	assert.JSONEq(t, `{
  "cronJob": "postgres-backup",
  "namespace": "backup-jobs",
  "schedule": "30 2 * * 0",
  "timeZone": "Europe/Berlin",
  "suspended": false,
  "nextRun": "2026-12-06T02:30:00+01:00",
  "lastSuccess": "2026-12-02T08:00:00Z",
  "lastSuccessAgeSeconds": 3600,
  "maxAgeSeconds": 691200,
  "lastJob": {
    "name": "postgres-backup-manual-abcde",
    "manual": false,
    "result": "Failed",
    "reason": "BackoffLimitExceeded",
    "started": "2026-12-02T07:00:00Z",
    "finished": "2026-12-02T07:01:00Z"
  },
  "problems": ["the last backup job postgres-backup-manual-abcde failed: BackoffLimitExceeded"]
}`, string(data))
}

func TestJobName(t *testing.T) {
	assert.Regexp(t, `^postgres-backup-manual-[a-z0-9]{5}$`, JobName("postgres-backup"))
	long := JobName("a-cronjob-name-that-is-very-long-indeed-and-goes-on-and-on-x")
	assert.Len(t, long, 63)
	assert.NotEqual(t, JobName("x"), JobName("x"), "unique")
}
