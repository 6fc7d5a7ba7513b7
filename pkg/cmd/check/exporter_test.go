package check_test

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/immichmetrics"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// exporter serves Immich's metrics (the fixture written from Immich's source) on
// /metrics/api-metrics and /metrics/worker-metrics, and kube-state-metrics' backup series on /ksm.
type exporter struct {
	addr     string
	settings *settings.Settings

	mu          sync.Mutex
	apiDown     bool
	lastSuccess time.Time
}

func newExporter(t *testing.T, s *settings.Settings) *exporter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &exporter{addr: l.Addr().String(), settings: s, lastSuccess: time.Now()}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

func (e *exporter) setAPIDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.apiDown = down
}

func (e *exporter) setLastSuccess(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastSuccess = at
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	apiDown, last := e.apiDown, e.lastSuccess
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	switch r.URL.Path {
	case "/metrics/api-metrics":
		if apiDown {
			http.Error(w, "immich is restarting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, immichmetrics.Exposition(immichmetrics.APIWorker()))
	case "/metrics/worker-metrics":
		fmt.Fprint(w, immichmetrics.Exposition(immichmetrics.MicroservicesWorker()))
	case "/ksm":
		ns, cj := e.settings.Namespaces.Backup, e.settings.Backup.CronJob
		fmt.Fprintf(w, "kube_cronjob_status_last_successful_time{namespace=%q,cronjob=%q} %d\n", ns, cj, last.Unix())
		fmt.Fprintf(w, "kube_cronjob_created{namespace=%q,cronjob=%q} %d\n", ns, cj, time.Now().Add(-30*24*time.Hour).Unix())
		job := cj + "-1"
		fmt.Fprintf(w, "kube_job_status_start_time{namespace=%q,job_name=%q} %d\n", ns, job, last.Add(-time.Minute).Unix())
		fmt.Fprintf(w, "kube_job_status_failed{namespace=%q,job_name=%q} 0\n", ns, job)
		fmt.Fprintf(w, "kube_job_status_succeeded{namespace=%q,job_name=%q} 1\n", ns, job)
		// a Job that completed has a Complete condition and no Failed one, so no
		// kube_job_failed series (kube-state-metrics internal/store/job.go, v2.18.x)
		for _, c := range []string{"true", "false", "unknown"} {
			fmt.Fprintf(w, "kube_job_complete{namespace=%q,job_name=%q,condition=%q} %d\n", ns, job, c, map[bool]int{true: 1}[c == "true"])
		}
		fmt.Fprintf(w, "kube_job_owner{namespace=%q,job_name=%q,owner_kind=\"CronJob\",owner_name=%q,owner_is_controller=\"true\"} 1\n", ns, job, cj)
	default:
		http.NotFound(w, r)
	}
}

// httpSink accepts Alertmanager's Discord posts, so nothing leaves the machine.
type httpSink struct {
	url string
}

func newHTTPSink(t *testing.T) *httpSink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &httpSink{url: "http://" + l.Addr().String() + "/api/webhooks/1/test"}
}
