package check_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/check"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// TestMain shares one bed among the tests; its in-cluster Prometheus gets the
// tests' Watchdog (see watchdogRule), so it reaches Alertmanager in seconds.
func TestMain(m *testing.M) {
	os.Exit(testbed.RunMain(m, testbed.MainOptions{
		Monitoring: testbed.MonitoringOptions{RuleFiles: map[string]string{"watchdog.yaml": watchdogRule}},
	}))
}

// jsonReport is `check -o json` as a consumer reads it.
type jsonReport struct {
	Success    bool `json:"success"`
	Categories []struct {
		Name   string `json:"name"`
		Checks []struct {
			Name            string  `json:"name"`
			Status          string  `json:"status"`
			Message         string  `json:"message"`
			Hint            string  `json:"hint"`
			Runbook         string  `json:"runbook"`
			DurationSeconds float64 `json:"durationSeconds"`
		} `json:"checks"`
	} `json:"categories"`
	APICalls struct {
		Count          int     `json:"count"`
		SlowestCall    string  `json:"slowestCall"`
		SlowestSeconds float64 `json:"slowestSeconds"`
	} `json:"apiCalls"`
	DurationSeconds float64 `json:"durationSeconds"`
}

func parseReport(t *testing.T, out string) jsonReport {
	t.Helper()
	var r jsonReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r
}

// statuses maps category/check to status, for the checks that did not pass.
func (r jsonReport) notOK() map[string]string {
	out := map[string]string{}
	for _, c := range r.Categories {
		for _, ch := range c.Checks {
			if ch.Status != "ok" {
				out[c.Name+"/"+ch.Name] = ch.Status
			}
		}
	}
	return out
}

func (r jsonReport) find(t *testing.T, id string) (status, message, hint, runbook string) {
	t.Helper()
	cat, name, _ := strings.Cut(id, "/")
	for _, c := range r.Categories {
		for _, ch := range c.Checks {
			if c.Name == cat && ch.Name == name {
				return ch.Status, ch.Message, ch.Hint, ch.Runbook
			}
		}
	}
	t.Fatalf("no check %s in the report", id)
	return
}

func TestHealthySetupPasses(t *testing.T) {
	su := newSetup(t, setupOptions{})
	su.waitHealthy()

	textfile := filepath.Join(t.TempDir(), "picluster.prom")
	out, errOut, code := run(t, su.args("check", "-o", "json", "--textfile", textfile)...)
	require.Equal(t, exitcode.OK, code, "%s\n%s", out, errOut)
	r := parseReport(t, out)
	assert.True(t, r.Success)
	assert.Empty(t, r.notOK())
	var names []string
	for _, c := range r.Categories {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"kubernetes", "monitoring", "immich", "rules", "alerting", "secrets", "backup"}, names)

	t.Run("json golden", func(t *testing.T) {
		golden(t, "healthy.json", normalize(su, out))
	})

	t.Run("textfile parses back", func(t *testing.T) {
		f, err := os.Open(textfile)
		require.NoError(t, err)
		defer f.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(f)
		require.NoError(t, err)
		success := fams[check.MetricSuccess]
		require.NotNil(t, success)
		assert.Len(t, success.Metric, 18)
		for _, m := range success.Metric {
			assert.Equal(t, 1.0, m.GetGauge().GetValue(), m.String())
		}
		last := fams[check.MetricLastRun].Metric[0].GetGauge().GetValue()
		assert.InDelta(t, float64(time.Now().Unix()), last, 60)
	})

	t.Run("wall time against the slowest call", func(t *testing.T) {
		t.Logf("check: %.3fs wall, %d API calls, slowest %.3fs (%s)", r.DurationSeconds, r.APICalls.Count, r.APICalls.SlowestSeconds, r.APICalls.SlowestCall)
		assert.Greater(t, r.APICalls.Count, 20)
		// The ratio of wall time to the slowest call is a measurement, not a pass/fail
		// (loopback calls take milliseconds, so the scheduler alone can double it):
		// hack/bench-check.sh prints it. That checks run at once is proven by
		// pkg/check's TestRunIsConcurrentAndKeepsOrder.
		assert.Positive(t, r.APICalls.SlowestSeconds)
		assert.NotEmpty(t, r.APICalls.SlowestCall)
	})

	t.Run("text", func(t *testing.T) {
		out, _, code := run(t, su.args("check", "--category", "rules", "--category", "backup")...)
		require.Equal(t, exitcode.OK, code, out)
		assert.Contains(t, out, "rules\n  ✓ rule-groups")
		assert.Contains(t, out, "backup\n  ✓ cronjob")
		assert.NotContains(t, out, "kubernetes")
		assert.Contains(t, out, "5 checks: 5 ok, 0 warnings, 0 failed")
		assert.NotContains(t, out, "\x1b[", "no colours and no spinner off a terminal")
	})
}

// normalize replaces what changes from run to run (names, ports, ages, durations).
func normalize(su *setup, out string) string {
	s := su.settings
	r := strings.NewReplacer(
		s.Namespaces.Monitoring, "MONITORING", s.Namespaces.Immich, "IMMICH", s.Namespaces.Backup, "BACKUP",
		su.prom.URL, "PROMETHEUS_URL", su.am.URL, "ALERTMANAGER_URL", su.bed.KubeVersion, "KUBE_VERSION",
	)
	out = r.Replace(out)
	for _, re := range []struct{ re, with string }{
		{`"durationSeconds": [0-9.e-]+`, `"durationSeconds": 0`},
		{`"slowestSeconds": [0-9.e-]+`, `"slowestSeconds": 0`},
		{`"count": [0-9]+`, `"count": 0`},
		{`"slowestCall": "[^"]*"`, `"slowestCall": ""`},
		{`\b[0-9]+(s|m|h|d) (ago|old)`, `AGE $2`},
		{`(Prometheus|Alertmanager) [0-9]+\.[0-9]+\.[0-9]+[^ ]* answers`, `$1 VERSION answers`},
	} {
		out = regexp.MustCompile(re.re).ReplaceAllString(out, re.with)
	}
	return out
}

func TestFaults(t *testing.T) {
	tests := map[string]struct {
		opts    setupOptions
		fault   func(su *setup)
		args    []string
		code    int
		failing map[string]string
		message string // of the first failing check
		hint    string
		runbook string
	}{
		"target down": {
			fault:   func(su *setup) { su.exporter.setAPIDown(true) },
			code:    exitcode.Failure,
			failing: map[string]string{"immich/targets": "failure"},
			message: "1 of 2 targets of job immich-metrics is down",
			hint:    "kubectl picluster targets --job 'immich-metrics'",
			runbook: check.RunbookImmichServerDown,
		},
		"servicemonitor selector mismatch": {
			fault: func(su *setup) {
				su.patch("monitoring.coreos.com/v1", "servicemonitors", su.settings.Namespaces.Immich, su.settings.Immich.MetricsService,
					`{"spec":{"selector":{"matchLabels":{"app.kubernetes.io/component":"metrics","app.kubernetes.io/name":"immich"}}}}`)
				su.reloadPrometheus(false, true) // the operator drops the pools of a ServiceMonitor that selects nothing
			},
			code:    exitcode.Failure,
			failing: map[string]string{"immich/servicemonitor": "failure", "immich/targets": "failure"},
			message: "selects app.kubernetes.io/component=metrics,app.kubernetes.io/name=immich, but Service",
			hint:    "kubectl picluster install --component immich",
			runbook: check.RunbookImmichTargetMissing,
		},
		"alert on a metric with no series": {
			opts: setupOptions{editSettings: func(s *settings.Settings) {
				s.Immich.Metrics.ThumbnailQueue = "immich_server_thumbnail_queue_size" // the runbook's name, never exported
			}},
			code:    exitcode.OK,
			failing: map[string]string{"rules/alert-series": "warning"},
			message: `ImmichThumbnailQueueStuck can never fire: immich_server_thumbnail_queue_size{`,
			hint:    "compare the metric names",
		},
		"alert on a metric with no series, --fail-on-warning": {
			opts: setupOptions{editSettings: func(s *settings.Settings) {
				s.Immich.Metrics.VideoQueue = "immich_server_video_queue_size"
			}},
			args:    []string{"--fail-on-warning"},
			code:    exitcode.Failure,
			failing: map[string]string{"rules/alert-series": "warning"},
			message: `ImmichVideoQueueStuck can never fire: immich_server_video_queue_size{`,
			hint:    "compare the metric names",
		},
		"watchdog absent": {
			opts:    setupOptions{noWatchdog: true},
			code:    exitcode.Failure,
			failing: map[string]string{"alerting/watchdog": "failure"},
			message: "Watchdog is not firing in Alertmanager, Prometheus does not fire it either",
			hint:    "route it to the null receiver, never delete it",
		},
		"externalsecret not ready": {
			fault: func(su *setup) {
				su.setExternalSecret(su.settings.Namespaces.Backup, su.settings.Backup.PasswordSecret.Name, "False", "SecretSyncedError", "could not get secret data from provider")
			},
			code:    exitcode.Failure,
			failing: map[string]string{"secrets/externalsecrets": "failure"},
			message: "is not Ready (SecretSyncedError): could not get secret data from provider",
			hint:    "kubectl describe externalsecret",
		},
		"stale backup": {
			fault: func(su *setup) {
				// The CronJob controller moves lastSuccessfulTime forward to the newest
				// successful Job it owns: the recent one goes first.
				nineDaysAgo := time.Now().Add(-9 * 24 * time.Hour)
				su.deleteJob("postgres-backup-1")
				su.addBackupJob("postgres-backup-0", batchv1.JobComplete, nineDaysAgo)
				su.setLastSuccess(nineDaysAgo)
			},
			code:    exitcode.Failure,
			failing: map[string]string{"backup/last-success": "failure"},
			message: "is 9d old (stale after 8d",
			hint:    "create job --from=cronjob/",
			runbook: check.RunbookBackupStale,
		},
		"failed last backup job": {
			fault:   func(su *setup) { su.addBackupJob("postgres-backup-2", batchv1.JobFailed, time.Now()) },
			code:    exitcode.Failure,
			failing: map[string]string{"backup/last-job": "failure"},
			message: "postgres-backup-2 failed (BackoffLimitExceeded)",
			hint:    "logs job/postgres-backup-2",
			runbook: check.RunbookBackupJobFailed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			su := newSetup(t, tc.opts)
			if tc.fault != nil {
				su.waitHealthy()
				tc.fault(su)
			}
			var out, errOut string
			var code int
			var r jsonReport
			// Give Prometheus a few scrapes and evaluations to see the fault (or,
			// for faults present from the start, the rest of the setup to come up).
			deadline := time.Now().Add(60 * time.Second)
			for {
				out, errOut, code = run(t, su.args(append([]string{"check", "-o", "json"}, tc.args...)...)...)
				r = parseReport(t, out)
				if (code == tc.code && assert.ObjectsAreEqual(tc.failing, r.notOK())) || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			assert.Equal(t, tc.failing, r.notOK(), out)
			assert.Equal(t, tc.code, code, errOut)
			assert.Equal(t, tc.code == exitcode.OK, r.Success)
			var first string
			for id := range tc.failing {
				if first == "" || id < first {
					first = id
				}
			}
			_, msg, hint, runbook := r.find(t, first)
			assert.Contains(t, msg, tc.message)
			assert.Contains(t, hint, tc.hint)
			assert.Equal(t, tc.runbook, runbook)

			// The text report shows the same, with the hint and the runbook.
			text, _, textCode := run(t, su.args(append([]string{"check"}, tc.args...)...)...)
			assert.Equal(t, tc.code, textCode)
			assert.Contains(t, text, "hint: "+hint)
			if runbook != "" {
				assert.Contains(t, text, "runbook: kubectl picluster runbook run "+runbook)
			}
		})
	}
}

// patch merge-patches a custom object.
func (su *setup) patch(apiVersion, resource, ns, name, patch string) {
	gv, err := schemaParseGV(apiVersion)
	require.NoError(su.t, err)
	_, err = su.bed.Dynamic.Resource(gv.WithResource(resource)).Namespace(ns).
		Patch(su.t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(su.t, err)
}

func TestWaitPassesOnceTheFaultIsRepaired(t *testing.T) {
	su := newSetup(t, setupOptions{})
	su.waitHealthy()
	su.exporter.setAPIDown(true)
	// Let Prometheus see the target go down.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, code := run(t, su.args("check", "--category", "immich")...)
		if code == exitcode.Failure || time.Now().After(deadline) {
			require.Equal(t, exitcode.Failure, code)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	go func() {
		time.Sleep(4 * time.Second)
		su.exporter.setAPIDown(false)
	}()
	began := time.Now()
	out, errOut, code := run(t, su.args("check", "--wait", "60s")...)
	require.Equal(t, exitcode.OK, code, "%s\n%s", out, errOut)
	assert.Greater(t, time.Since(began), 3*time.Second)
	assert.Contains(t, errOut, "(immich/targets); checking again in")
	assert.Contains(t, out, "all passed")
}

func TestWaitTimesOut(t *testing.T) {
	su := newSetup(t, setupOptions{})
	su.deleteJob("postgres-backup-1")
	su.addBackupJob("postgres-backup-0", batchv1.JobComplete, time.Now().Add(-30*24*time.Hour))
	su.setLastSuccess(time.Now().Add(-30 * 24 * time.Hour))
	out, errOut, code := run(t, su.args("check", "--category", "backup", "--wait", "3s")...)
	assert.Equal(t, exitcode.Timeout, code)
	assert.Contains(t, errOut, "not every check passed within --wait 3s: backup/last-success")
	assert.Contains(t, out, "× last-success")
}
