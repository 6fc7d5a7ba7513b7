package bundle

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	promModel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// inputSeries is one promtool input series: a selector and its values in promtool's
// expanding notation, one sample a minute from time 0.
type inputSeries struct{ selector, values string }

// alertCase is one situation for an alert, evaluated at one time: fires holds the
// labels the alert has then (besides alertname and the rule's own labels), nil
// when it must be silent.
type alertCase struct {
	name   string
	series []inputSeries
	at     time.Duration
	fires  map[string]string
}

func sel(metric string, labels ...string) string {
	var parts []string
	for i := 0; i+1 < len(labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return metric + "{" + strings.Join(parts, ", ") + "}"
}

func mins(d time.Duration) int { return int(d / time.Minute) }

// values builds promtool values: segments of (start, step, minutes), each segment
// continuing one sample a minute after the previous one.
func values(segments ...[3]float64) string {
	var parts []string
	for _, s := range segments {
		n := int(s[2])
		if n <= 0 {
			continue
		}
		if s[1] == 0 {
			parts = append(parts, fmt.Sprintf("%gx%d", s[0], n-1))
		} else {
			parts = append(parts, fmt.Sprintf("%g+%gx%d", s[0], s[1], n-1))
		}
	}
	return strings.Join(parts, " ")
}

func steady(v float64, until time.Duration) string {
	return values([3]float64{v, 0, float64(mins(until) + 1)})
}
func ramp(step float64, until time.Duration) string {
	return values([3]float64{0, step, float64(mins(until) + 1)})
}

// switchAt is v1 until (not including) minute from, then v2 until the end.
func switchAt(v1 float64, from time.Duration, v2 float64, until time.Duration) string {
	return values([3]float64{v1, 0, float64(mins(from))}, [3]float64{v2, 0, float64(mins(until-from) + 1)})
}

// from is absent before minute at, then v until the end.
func from(at time.Duration, v float64, until time.Duration) string {
	return strings.TrimSpace(strings.Repeat("_ ", mins(at)) + values([3]float64{v, 0, float64(mins(until-at) + 1)}))
}

// between is v1 until minute at, v2 until minute to, then absent (the series is gone).
func between(v1 float64, at time.Duration, v2 float64, to time.Duration) string {
	return values([3]float64{v1, 0, float64(mins(at))}, [3]float64{v2, 0, float64(mins(to - at))})
}

// alertCases are the unit tests of every alert, built from the settings (metric
// names, thresholds, windows) and the rules' own `for:`.
func alertCases(t *testing.T, s *settings.Settings, rules []alertRule) map[string][]alertCase {
	t.Helper()
	forOf := map[string]time.Duration{}
	for _, r := range rules {
		d, err := promModel.ParseDuration(r.For)
		require.NoError(t, err, "%s: for %q", r.Alert, r.For)
		forOf[r.Alert] = time.Duration(d)
	}
	out := map[string][]alertCase{}
	immich(s, forOf, out)
	queues(s, forOf, out)
	thumbnails(s, forOf, out)
	slowRequests(s, forOf, out)
	backups(s, forOf, out)
	drills(s, forOf, out)
	return out
}

func immich(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	job, ns := s.Immich.MetricsService, s.Namespaces.Immich
	target := []string{"job", job, "namespace", ns, "instance", "10.42.0.7:8081", "endpoint", "api-metrics"}
	labels := map[string]string{"job": job, "namespace": ns, "instance": "10.42.0.7:8081", "endpoint": "api-metrics"}

	f, start := forOf["ImmichServerDown"], 10*time.Minute
	end := start + f + 5*time.Minute
	down := []inputSeries{{sel("up", target...), switchAt(1, start, 0, end)}}
	out["ImmichServerDown"] = []alertCase{
		{name: "down for its for", series: down, at: start + f, fires: labels},
		{name: "down for less", series: down, at: start + f - time.Minute},
		{name: "up", series: []inputSeries{{sel("up", target...), steady(1, end)}}, at: start + f},
	}

	f = forOf["ImmichMetricsTargetMissing"]
	end = f + 5*time.Minute
	other := inputSeries{sel("up", "job", "node-exporter", "namespace", "monitoring"), steady(1, end)}
	out["ImmichMetricsTargetMissing"] = []alertCase{
		{name: "no target for its for", series: []inputSeries{other}, at: f, fires: map[string]string{"job": job, "namespace": ns}},
		{name: "no target for less", series: []inputSeries{other}, at: f - time.Minute},
		{name: "target present (even down)", series: []inputSeries{other, {sel("up", target...), steady(0, end)}}, at: f},
	}
}

func queues(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	job, ns := s.Immich.MetricsService, s.Namespaces.Immich
	worker := []string{"job", job, "namespace", ns, "instance", "10.42.0.7:8082", "endpoint", "worker-metrics"}
	for _, q := range queueAlerts(s) {
		f := forOf[q.Alert]
		end := f + 15*time.Minute
		active := func(v float64) inputSeries { return inputSeries{sel(q.Active, worker...), steady(v, end)} }
		stalled := inputSeries{sel(q.Success, worker...), steady(5, end)}
		finishing := inputSeries{sel(q.Success, worker...), ramp(1, end)}
		fires := map[string]string{"namespace": ns}
		th := float64(q.Threshold)
		out[q.Alert] = []alertCase{
			{name: "active jobs, none finishing", series: []inputSeries{active(2), stalled}, at: f, fires: fires},
			{name: "active jobs, no job ever finished", series: []inputSeries{active(1)}, at: f, fires: fires},
			{name: "more jobs in progress than the threshold", series: []inputSeries{active(th + 1), finishing}, at: f, fires: fires},
			{name: "stuck for less than its for", series: []inputSeries{active(2), stalled}, at: f - time.Minute},
			{name: "busy and finishing", series: []inputSeries{active(2), finishing}, at: f + 10*time.Minute},
			{name: "exactly the threshold, finishing", series: []inputSeries{active(th), finishing}, at: f + 10*time.Minute},
			{name: "idle", series: []inputSeries{active(0), stalled}, at: f + 10*time.Minute},
		}
	}
}

func thumbnails(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	const alert = "ImmichNoThumbnailActivity"
	job, ns, m := s.Immich.MetricsService, s.Namespaces.Immich, s.Immich.Metrics
	worker := []string{"job", job, "namespace", ns, "instance", "10.42.0.7:8082", "endpoint", "worker-metrics"}
	f, w := forOf[alert], s.Immich.Thresholds.NoThumbnailActivity.D()
	end := time.Hour + w + f + 10*time.Minute
	fires := map[string]string{"namespace": ns}

	failing := []inputSeries{
		{sel(m.ThumbnailQueue, worker...), steady(0, end)},
		{sel(m.ThumbnailFailed, worker...), ramp(1, end)},
		{sel(m.ThumbnailSuccess, worker...), steady(3, end)},
	}
	// successes until minute 60, then active jobs and no success at all
	lastSuccessAt60 := []inputSeries{
		{sel(m.ThumbnailQueue, worker...), steady(1, end)},
		{sel(m.ThumbnailSuccess, worker...), values([3]float64{0, 1, 61}, [3]float64{60, 0, float64(mins(end - time.Hour))})},
	}
	quiet := []inputSeries{
		{sel(m.ThumbnailQueue, worker...), steady(0, end)},
		{sel(m.ThumbnailFailed, worker...), steady(2, end)},
		{sel(m.ThumbnailSuccess, worker...), steady(3, end)},
	}
	// increase() needs two samples: a failure shows from minute 1
	out[alert] = []alertCase{
		{name: "every thumbnail job fails", series: failing, at: time.Minute + f, fires: fires},
		{name: "last success older than the window", series: lastSuccessAt60, at: time.Hour + w + f + 3*time.Minute, fires: fires},
		{name: "failing for less than its for", series: failing, at: f - time.Minute},
		{name: "last success within the window", series: lastSuccessAt60, at: time.Hour + w - w/4},
		{name: "quiet library, nothing to do", series: quiet, at: end - 5*time.Minute},
	}
}

func slowRequests(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	const alert = "ImmichSlowRequests"
	job, ns, m := s.Immich.MetricsService, s.Namespaces.Immich, s.Immich.Metrics
	factor := 1.0
	if m.RequestDurationUnit == "milliseconds" {
		factor = 1000
	}
	limit := s.Immich.Thresholds.SlowRequestSeconds * factor
	f := forOf[alert]
	end := f + 15*time.Minute
	bucket := func(le string, perMinute float64) inputSeries {
		return inputSeries{sel(m.RequestDuration+"_bucket", "job", job, "namespace", ns, "instance", "10.42.0.7:8081", "le", le), ramp(perMinute, end)}
	}
	le := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	// every request between the threshold and twice it, or all well below it
	slow := []inputSeries{bucket(le(limit/5), 0), bucket(le(limit), 0), bucket(le(2*limit), 10), bucket("+Inf", 10)}
	fast := []inputSeries{bucket(le(limit/5), 10), bucket(le(limit), 10), bucket(le(2*limit), 10), bucket("+Inf", 10)}
	// rate() needs two samples: slow shows from minute 1
	out[alert] = []alertCase{
		{name: "slow for its for", series: slow, at: time.Minute + f, fires: map[string]string{"namespace": ns}},
		{name: "slow for less", series: slow, at: f},
		{name: "fast", series: fast, at: end - 5*time.Minute},
	}
}

func backups(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	cronJobAlerts(s.Namespaces.Backup, s.Backup.CronJob, "BackupJobFailed", "BackupStale", s.Backup.StaleAfter.D(), forOf, out)
}

// drills are the restore drill's alerts, when the settings switch the drill on: the
// same shape as the backup's, on the drill CronJob's Jobs.
func drills(s *settings.Settings, forOf map[string]time.Duration, out map[string][]alertCase) {
	if s.RestoreDrill.Enabled {
		cronJobAlerts(s.Namespaces.Backup, s.RestoreDrill.CronJob, "RestoreDrillFailed", "RestoreDrillStale", s.RestoreDrill.StaleAfter.D(), forOf, out)
	}
}

// cronJobAlerts are the cases of a CronJob's two alerts: failedAlert (its last Job
// failed for good after its last success) and staleAlert (no success for stale).
func cronJobAlerts(ns, cj, failedAlert, staleAlert string, stale time.Duration, forOf map[string]time.Duration, out map[string][]alertCase) {
	job := cj + "-29000000"

	f := forOf[failedAlert]
	retryAt, failAt := 3*time.Minute, 5*time.Minute
	end := failAt + f + 10*time.Minute
	type outcome int
	const (
		retrying       outcome = iota // a pod failed, the Job retries (backoffLimit not reached)
		conditionFalse                // a Failed condition with status False
		failedForGood                 // retries exhausted: the Job's Failed condition is True
		retrySucceeded                // a pod failed, the retry succeeded
	)
	// jobSeries are the series kube-state-metrics exports for the Job, written from its
	// source (kubernetes/kube-state-metrics v2.18.x, internal/store/job.go):
	//   - kube_job_status_failed is status.failed, the count of failed pods: one series
	//     without a reason while the Job has no Failed condition (reason="" is no label),
	//     then one per known reason (BackoffLimitExceeded, DeadlineExceeded, Evicted),
	//     1 on the condition's reason;
	//   - kube_job_failed exists only once the Job has a Failed condition: one series per
	//     condition status (true, false, unknown), 1 on the condition's status;
	//   - kube_job_complete likewise for the Complete condition.
	jobSeries := func(o outcome, lastSuccess float64, owner string) []inputSeries {
		jobSel := func(metric string, labels ...string) string {
			return sel(metric, append([]string{"namespace", ns, "job_name", job}, labels...)...)
		}
		succeeded := 0.0
		if o == retrySucceeded {
			succeeded = 1
		}
		in := []inputSeries{
			{jobSel("kube_job_status_start_time"), steady(600, end)},
			{jobSel("kube_job_status_succeeded"), switchAt(0, failAt, succeeded, end)},
			{jobSel("kube_job_owner", "owner_kind", "CronJob", "owner_name", owner, "owner_is_controller", "true"), steady(1, end)},
		}
		switch o {
		case failedForGood:
			in = append(in,
				inputSeries{jobSel("kube_job_status_failed"), between(0, retryAt, 1, failAt)},
				inputSeries{jobSel("kube_job_status_failed", "reason", "BackoffLimitExceeded"), from(failAt, 3, end)},
				inputSeries{jobSel("kube_job_status_failed", "reason", "DeadlineExceeded"), from(failAt, 0, end)},
				inputSeries{jobSel("kube_job_status_failed", "reason", "Evicted"), from(failAt, 0, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "true"), from(failAt, 1, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "false"), from(failAt, 0, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "unknown"), from(failAt, 0, end)},
			)
		case conditionFalse:
			in = append(in,
				inputSeries{jobSel("kube_job_status_failed"), switchAt(0, retryAt, 1, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "true"), from(retryAt, 0, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "false"), from(retryAt, 1, end)},
				inputSeries{jobSel("kube_job_failed", "condition", "unknown"), from(retryAt, 0, end)},
			)
		case retrySucceeded:
			in = append(in,
				inputSeries{jobSel("kube_job_status_failed"), switchAt(0, retryAt, 1, end)},
				inputSeries{jobSel("kube_job_complete", "condition", "true"), from(failAt, 1, end)},
				inputSeries{jobSel("kube_job_complete", "condition", "false"), from(failAt, 0, end)},
				inputSeries{jobSel("kube_job_complete", "condition", "unknown"), from(failAt, 0, end)},
			)
		default:
			in = append(in, inputSeries{jobSel("kube_job_status_failed"), switchAt(0, retryAt, 1, end)})
		}
		if lastSuccess >= 0 {
			in = append(in, inputSeries{sel("kube_cronjob_status_last_successful_time", "namespace", ns, "cronjob", cj), steady(lastSuccess, end)})
		}
		return in
	}
	failed := map[string]string{"namespace": ns, "job_name": job}
	out[failedAlert] = []alertCase{
		{name: "failed after the last success", series: jobSeries(failedForGood, 100, cj), at: failAt + f, fires: failed},
		{name: "failed, never a success", series: jobSeries(failedForGood, -1, cj), at: failAt + f, fires: failed},
		{name: "failed for less than its for", series: jobSeries(failedForGood, 100, cj), at: failAt + f - time.Minute},
		{name: "a pod failed, the job still retries", series: jobSeries(retrying, 100, cj), at: end},
		{name: "a Failed condition with status false", series: jobSeries(conditionFalse, 100, cj), at: end},
		{name: "a later backup succeeded", series: jobSeries(failedForGood, 900, cj), at: failAt + f},
		{name: "a retry of the job succeeded", series: jobSeries(retrySucceeded, 100, cj), at: end},
		{name: "a job of another owner", series: jobSeries(failedForGood, 100, "restore"), at: failAt + f},
	}

	f = forOf[staleAlert]
	end = stale + f + 10*time.Minute
	created := inputSeries{sel("kube_cronjob_created", "namespace", ns, "cronjob", cj), steady(0, end)}
	lastOK := func(v string) inputSeries {
		return inputSeries{sel("kube_cronjob_status_last_successful_time", "namespace", ns, "cronjob", cj), v}
	}
	staleLabels := map[string]string{"namespace": ns, "cronjob": cj}
	// a success at time 0 is stale once time() passes staleAfter
	out[staleAlert] = []alertCase{
		{name: "last success older than staleAfter", series: []inputSeries{created, lastOK(steady(0, end))}, at: stale + f + 2*time.Minute, fires: staleLabels},
		{name: "never a success", series: []inputSeries{created}, at: stale + f + 2*time.Minute, fires: staleLabels},
		{name: "the CronJob is gone", series: []inputSeries{{sel("kube_cronjob_created", "namespace", "other", "cronjob", "x"), steady(0, f+5*time.Minute)}}, at: f + time.Minute, fires: staleLabels},
		{name: "stale for less than its for", series: []inputSeries{created, lastOK(steady(0, end))}, at: stale + f - time.Minute},
		{name: "a success every minute", series: []inputSeries{created, lastOK(ramp(60, end))}, at: stale + f + 2*time.Minute},
	}
}

// The rules' `for:` come from the settings where the settings have a key for them.
func TestRuleForComesFromSettings(t *testing.T) {
	for name, s := range ruleVariants() {
		t.Run(name, func(t *testing.T) {
			th := s.Immich.Thresholds
			want := map[string]settings.Duration{
				"ImmichServerDown": th.ServerDownFor, "ImmichMetricsTargetMissing": th.TargetMissingFor,
				"ImmichThumbnailQueueStuck": th.QueueStuckFor, "ImmichVideoQueueStuck": th.QueueStuckFor,
				"ImmichMetadataQueueStuck": th.QueueStuckFor, "ImmichSlowRequests": th.SlowRequestsFor,
			}
			for _, r := range alertRules(t, s) {
				if d, ok := want[r.Alert]; ok {
					assert.Equal(t, d.String(), r.For, r.Alert)
				}
			}
		})
	}
}
