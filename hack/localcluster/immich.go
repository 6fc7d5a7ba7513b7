package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

const (
	roleImmich  = "Immich"
	immichImage = "ghcr.io/immich-app/immich-server:v1.135.3"
	mlImage     = "ghcr.io/immich-app/immich-machine-learning:v1.135.3"
)

// immichDeployments are Immich's Deployments as its chart (a Flux HelmRelease on the
// real cluster) makes them: the server, whose pod matches the settings' pod selector
// and whose address is pinned to where the stand-in serves Immich's metrics, and
// machine learning (no metrics). Deployments beyond the first two are left out.
func immichDeployments(s *settings.Settings, serverIP string) []*appsv1.Deployment {
	ns := s.Namespaces.Immich
	var out []*appsv1.Deployment
	for i, name := range s.Immich.Deployments {
		labels := map[string]string{"app.kubernetes.io/instance": "immich", "app.kubernetes.io/name": strings.TrimPrefix(name, "immich-")}
		annotations := map[string]string{}
		container := corev1.Container{Name: strings.TrimPrefix(name, "immich-"), Image: mlImage,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3003, Protocol: corev1.ProtocolTCP}}}
		switch i {
		case 0:
			labels = maps.Clone(s.Immich.PodSelector)
			annotations[testbed.PodIPAnnotation] = serverIP
			container = corev1.Container{
				Name: "immich-server", Image: immichImage,
				Env: []corev1.EnvVar{{Name: "IMMICH_TELEMETRY_INCLUDE", Value: "all"}},
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 2283, Protocol: corev1.ProtocolTCP},
					{Name: "metrics-api", ContainerPort: int32(s.Immich.ServerPort), Protocol: corev1.ProtocolTCP},
					{Name: "metrics-worker", ContainerPort: int32(s.Immich.WorkerPort), Protocol: corev1.ProtocolTCP},
				},
			}
		case 1:
		default:
			continue
		}
		out = append(out, &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: annotations},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{container}},
				},
			},
		})
	}
	return out
}

// playImmich applies Immich's Deployments (creating the namespace when install has
// not) and waits until they are available.
func (si *standIns) playImmich(ctx context.Context, log *passLog) error {
	ns := si.settings.Namespaces.Immich
	if _, err := si.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("read namespace %s (the bed creates it for Postgres): %w", ns, err)
	}
	var objs []*unstructured.Unstructured
	for _, d := range immichDeployments(si.settings, si.immichIP) {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if err != nil {
			return fmt.Errorf("encode Deployment %s: %w", ref(d), err)
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
		objs = append(objs, u)
	}
	if err := si.applyAll(ctx, log, roleImmich, "chart object", objs, nil); err != nil {
		return err
	}
	for _, o := range objs {
		if err := si.waitAvailable(ctx, o.GetNamespace(), o.GetName()); err != nil {
			return err
		}
	}
	log.saw(roleImmich, "pod of Deployment %s/%s at %s: metrics on :%d (API) and :%d (microservices), served by hack/localcluster",
		ns, objs[0].GetName(), si.immichIP, si.settings.Immich.ServerPort, si.settings.Immich.WorkerPort)
	return nil
}

// immichMetrics serves what Immich exports with IMMICH_TELEMETRY_INCLUDE=all, under
// the names in the settings (by default the real ones): the API worker's request
// duration histogram, and the microservices worker's queue gauges and job counters.
// The queues stay empty and jobs keep succeeding, so none of the bundle's alerts
// fires; the counters grow so that increase() sees a living Immich.
type immichMetrics struct {
	api, worker http.Handler
}

func newImmichMetrics(s *settings.Settings) *immichMetrics {
	m := s.Immich.Metrics
	api := prometheus.NewRegistry()
	buckets := []float64{5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}
	if m.RequestDurationUnit == "seconds" {
		buckets = prometheus.DefBuckets
	}
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: m.RequestDuration, Help: "Measures the duration of inbound HTTP requests.", Buckets: buckets,
	}, []string{"http_method", "http_route", "http_status_code"})
	api.MustRegister(dur)
	worker := prometheus.NewRegistry()
	for _, g := range []string{m.ThumbnailQueue, m.VideoQueue, m.MetadataQueue} {
		worker.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: g, Help: "Jobs in progress."}))
	}
	var counters []prometheus.Counter
	for _, c := range uniq(m.ThumbnailSuccess, m.ThumbnailFailed, m.VideoSuccess, m.MetadataSuccess) {
		// Named as the settings say, _total included: the text format prints names as given.
		ctr := prometheus.NewCounter(prometheus.CounterOpts{Name: c, Help: "Jobs finished."})
		worker.MustRegister(ctr)
		if !strings.HasSuffix(c, "_failed_total") {
			counters = append(counters, ctr)
		}
	}
	// Traffic and work, a little at every scrape.
	var mu sync.Mutex
	var last time.Time // the first scrape already sees traffic
	tick := func() {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		for _, route := range []string{"/api/assets", "/api/server/ping", "/api/search/metadata"} {
			dur.WithLabelValues("GET", route, "200").Observe(scaleMillis(m.RequestDurationUnit, 42))
		}
		for _, c := range counters {
			c.Add(3)
		}
	}
	serve := func(reg *prometheus.Registry) http.Handler {
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			tick()
			h.ServeHTTP(w, r)
		})
	}
	return &immichMetrics{api: serve(api), worker: serve(worker)}
}

// scaleMillis converts a duration in milliseconds to the histogram's unit.
func scaleMillis(unit string, ms float64) float64 {
	if unit == "seconds" {
		return ms / 1000
	}
	return ms
}

// uniq returns the distinct non-empty strings, sorted.
func uniq(in ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
