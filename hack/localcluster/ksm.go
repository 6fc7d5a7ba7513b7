package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kubeStateMetrics serves the CronJob and Job series of kube-state-metrics (v2 names
// and labels) from the bed's API server at every scrape: what the bundle's backup
// alerts and `check` read. Other kube-state-metrics families are left out.
type kubeStateMetrics struct {
	kube kubernetes.Interface

	cronCreated, cronLastSuccess, cronLastSchedule, cronSuspend, cronActive *prometheus.Desc
	jobCreated, jobStart, jobCompletion, jobSucceeded, jobFailed, jobActive *prometheus.Desc
	jobOwner, jobComplete, jobFailedCond                                    *prometheus.Desc
}

func newKubeStateMetrics(kube kubernetes.Interface) http.Handler {
	cj := []string{"namespace", "cronjob"}
	job := []string{"namespace", "job_name"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	k := &kubeStateMetrics{
		kube:             kube,
		cronCreated:      d("kube_cronjob_created", "Unix creation timestamp", cj),
		cronLastSuccess:  d("kube_cronjob_status_last_successful_time", "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.", cj),
		cronLastSchedule: d("kube_cronjob_status_last_schedule_time", "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.", cj),
		cronSuspend:      d("kube_cronjob_spec_suspend", "Suspend flag tells the controller to suspend subsequent executions.", cj),
		cronActive:       d("kube_cronjob_status_active", "Active holds pointers to currently running jobs.", cj),
		jobCreated:       d("kube_job_created", "Unix creation timestamp", job),
		jobStart:         d("kube_job_status_start_time", "StartTime represents time when the job was acknowledged by the Job Manager.", job),
		jobCompletion:    d("kube_job_status_completion_time", "CompletionTime represents time when the job was completed.", job),
		jobSucceeded:     d("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded.", job),
		jobFailed:        d("kube_job_status_failed", "The number of pods which reached Phase Failed and the reason for failure.", job),
		jobActive:        d("kube_job_status_active", "The number of actively running pods.", job),
		jobOwner:         d("kube_job_owner", "Information about the Job's owner.", append(job, "owner_kind", "owner_name", "owner_is_controller")),
		jobComplete:      d("kube_job_complete", "The job has completed its execution.", append(job, "condition")),
		jobFailedCond:    d("kube_job_failed", "The job has failed its execution.", append(job, "condition")),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(k)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// Describe sends every family's description.
func (k *kubeStateMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{k.cronCreated, k.cronLastSuccess, k.cronLastSchedule, k.cronSuspend, k.cronActive,
		k.jobCreated, k.jobStart, k.jobCompletion, k.jobSucceeded, k.jobFailed, k.jobActive, k.jobOwner, k.jobComplete, k.jobFailedCond} {
		ch <- d
	}
}

// Collect lists the CronJobs and Jobs of every namespace and sends their series; a
// failed list fails the scrape (up = 0), as kube-state-metrics' would.
func (k *kubeStateMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cjs, err := k.kube.BatchV1().CronJobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(k.cronCreated, err)
		return
	}
	jobs, err := k.kube.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(k.jobCreated, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, c := range cjs.Items {
		l := []string{c.Namespace, c.Name}
		gauge(k.cronCreated, unixTime(c.CreationTimestamp.Time), l...)
		if c.Status.LastSuccessfulTime != nil {
			gauge(k.cronLastSuccess, unixTime(c.Status.LastSuccessfulTime.Time), l...)
		}
		if c.Status.LastScheduleTime != nil {
			gauge(k.cronLastSchedule, unixTime(c.Status.LastScheduleTime.Time), l...)
		}
		gauge(k.cronSuspend, boolValue(c.Spec.Suspend != nil && *c.Spec.Suspend), l...)
		gauge(k.cronActive, float64(len(c.Status.Active)), l...)
	}
	for _, j := range jobs.Items {
		l := []string{j.Namespace, j.Name}
		gauge(k.jobCreated, unixTime(j.CreationTimestamp.Time), l...)
		if j.Status.StartTime != nil {
			gauge(k.jobStart, unixTime(j.Status.StartTime.Time), l...)
		}
		if j.Status.CompletionTime != nil {
			gauge(k.jobCompletion, unixTime(j.Status.CompletionTime.Time), l...)
		}
		gauge(k.jobSucceeded, float64(j.Status.Succeeded), l...)
		gauge(k.jobFailed, float64(j.Status.Failed), l...)
		gauge(k.jobActive, float64(j.Status.Active), l...)
		kind, name, controller := "<none>", "<none>", "<none>"
		for _, o := range j.OwnerReferences {
			kind, name, controller = o.Kind, o.Name, "false"
			if o.Controller != nil && *o.Controller {
				controller = "true"
			}
		}
		gauge(k.jobOwner, 1, append(l, kind, name, controller)...)
		for _, cond := range j.Status.Conditions {
			d := map[batchv1.JobConditionType]*prometheus.Desc{batchv1.JobComplete: k.jobComplete, batchv1.JobFailed: k.jobFailedCond}[cond.Type]
			if d == nil {
				continue
			}
			for _, s := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown} {
				gauge(d, boolValue(cond.Status == s), append(l, strings.ToLower(string(s)))...)
			}
		}
	}
}

func unixTime(t time.Time) float64 { return float64(t.Unix()) }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
