package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// scrape GETs /metrics from h and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return fams
}

func TestImmichMetricsUseTheSettingsNames(t *testing.T) {
	tests := map[string]func(*settings.Settings){
		"defaults (Immich's real names)": func(*settings.Settings) {},
		"renamed, in seconds": func(s *settings.Settings) {
			s.Immich.Metrics.ThumbnailQueue = "my_thumbnails_active"
			s.Immich.Metrics.RequestDuration = "my_request_seconds"
			s.Immich.Metrics.RequestDurationUnit = "seconds"
		},
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			edit(s)
			m := s.Immich.Metrics
			im := newImmichMetrics(s)
			api, worker := scrape(t, im.api), scrape(t, im.worker)
			require.Contains(t, api, m.RequestDuration)
			assert.Equal(t, dto.MetricType_HISTOGRAM, api[m.RequestDuration].GetType())
			for _, g := range []string{m.ThumbnailQueue, m.VideoQueue, m.MetadataQueue} {
				require.Contains(t, worker, g)
				assert.Equal(t, dto.MetricType_GAUGE, worker[g].GetType())
				assert.Zero(t, worker[g].Metric[0].GetGauge().GetValue(), "queues stay empty: no alert fires")
			}
			for _, c := range []string{m.ThumbnailSuccess, m.ThumbnailFailed, m.VideoSuccess, m.MetadataSuccess} {
				require.Contains(t, worker, c, "counter named exactly as the settings say")
				assert.Equal(t, dto.MetricType_COUNTER, worker[c].GetType())
			}
			assert.Zero(t, worker[m.ThumbnailFailed].Metric[0].GetCounter().GetValue(), "no job fails")
			assert.Positive(t, worker[m.ThumbnailSuccess].Metric[0].GetCounter().GetValue(), "jobs succeed")
			rec := httptest.NewRecorder()
			im.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
			assert.Equal(t, http.StatusNotFound, rec.Code)
		})
	}
}

func TestImmichDeployments(t *testing.T) {
	s := settings.Default()
	deps := immichDeployments(s, "10.250.0.5")
	require.Len(t, deps, 2)
	server := deps[0]
	assert.Equal(t, "immich-server", server.Name)
	assert.True(t, labels.SelectorFromSet(s.Immich.PodSelector).Matches(labels.Set(server.Spec.Template.Labels)),
		"the metrics Service's selector finds the server pod")
	assert.Equal(t, "10.250.0.5", server.Spec.Template.Annotations[testbed.PodIPAnnotation])
	assert.False(t, labels.SelectorFromSet(s.Immich.PodSelector).Matches(labels.Set(deps[1].Spec.Template.Labels)),
		"machine learning is not a metrics endpoint")
	assert.Empty(t, deps[1].Spec.Template.Annotations[testbed.PodIPAnnotation])
}

func TestKubeStateMetrics(t *testing.T) {
	created := metav1.NewTime(time.Unix(1_700_000_000, 0))
	success := metav1.NewTime(time.Unix(1_700_000_600, 0))
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "postgres-backup", Namespace: "backup-jobs", UID: "cj-uid", CreationTimestamp: created},
		Status: batchv1.CronJobStatus{LastSuccessfulTime: &success}}
	job := jobFromCronJob(cj, "postgres-backup-manual-1")
	job.CreationTimestamp = created
	job.Status = batchv1.JobStatus{StartTime: &created, CompletionTime: &success, Succeeded: 1,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	orphan := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}, Status: batchv1.JobStatus{Failed: 2}}
	fams := scrape(t, newKubeStateMetrics(fake.NewClientset(cj, job, orphan)))

	series := func(name string) map[string]float64 {
		out := map[string]float64{}
		for _, m := range fams[name].GetMetric() {
			var l []string
			for _, p := range m.GetLabel() {
				l = append(l, p.GetName()+"="+p.GetValue())
			}
			out[strings.Join(l, ",")] = m.GetGauge().GetValue()
		}
		return out
	}
	assert.Equal(t, map[string]float64{"cronjob=postgres-backup,namespace=backup-jobs": 1_700_000_600}, series("kube_cronjob_status_last_successful_time"))
	assert.Equal(t, map[string]float64{"cronjob=postgres-backup,namespace=backup-jobs": 1_700_000_000}, series("kube_cronjob_created"))
	assert.Equal(t, map[string]float64{
		"job_name=postgres-backup-manual-1,namespace=backup-jobs,owner_is_controller=true,owner_kind=CronJob,owner_name=postgres-backup": 1,
		"job_name=other,namespace=default,owner_is_controller=<none>,owner_kind=<none>,owner_name=<none>":                                1,
	}, series("kube_job_owner"))
	assert.Equal(t, map[string]float64{"job_name=postgres-backup-manual-1,namespace=backup-jobs": 0, "job_name=other,namespace=default": 2}, series("kube_job_status_failed"))
	assert.Equal(t, map[string]float64{"job_name=postgres-backup-manual-1,namespace=backup-jobs": 1_700_000_000}, series("kube_job_status_start_time"))
	assert.Equal(t, 1.0, series("kube_job_complete")["condition=true,job_name=postgres-backup-manual-1,namespace=backup-jobs"])
}

func TestJobFromCronJob(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres-backup", Namespace: "backup-jobs", UID: "uid-1"},
		Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "backup"}, Annotations: map[string]string{"a": "b"}},
			Spec:       batchv1.JobSpec{BackoffLimit: ptr.To[int32](2)},
		}},
	}
	want := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "postgres-backup-manual-1", Namespace: "backup-jobs",
			Labels:      map[string]string{"app": "backup"},
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual", "a": "b"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: "postgres-backup", UID: "uid-1", Controller: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](2)},
	}
	got := jobFromCronJob(cj, "postgres-backup-manual-1")
	assert.Equal(t, want, got)
	got.Labels["app"] = "changed"
	assert.Equal(t, "backup", cj.Spec.JobTemplate.Labels["app"], "the CronJob is not touched")
}

func TestDiscordSink(t *testing.T) {
	var logs bytes.Buffer
	d := newDiscordSink("http://10.250.0.7", &logs)
	url := d.newWebhookURL()
	require.True(t, d.issued(url))
	assert.False(t, d.issued("https://discord.com/api/webhooks/1/x"))
	assert.False(t, d.issued(url+"x"))
	path := strings.TrimPrefix(url, "http://10.250.0.7")
	post := func(path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		return rec
	}
	tests := map[string]struct {
		path, body string
		code       int
	}{
		"alertmanager's post":        {path: path, body: `{"embeds":[{"title":"[FIRING:1] ImmichServerDown"}]}`, code: http.StatusNoContent},
		"wait=true gets the message": {path: path + "?wait=true", body: `{"content":"hello"}`, code: http.StatusOK},
		"unknown token":              {path: "/api/webhooks/1/nope", body: `{"content":"x"}`, code: http.StatusUnauthorized},
		"empty message":              {path: path, body: `{}`, code: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := post(tc.path, tc.body)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.code == http.StatusOK {
				var m struct {
					ID string `json:"id"`
				}
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
				assert.NotEmpty(t, m.ID)
			}
		})
	}
	assert.Equal(t, 2, d.Received())
	assert.Contains(t, logs.String(), "playing Discord: message received: [FIRING:1] ImmichServerDown")
	token := path[strings.LastIndex(path, "/")+1:]
	assert.NotContains(t, logs.String(), token, "the webhook token is never logged")
}
