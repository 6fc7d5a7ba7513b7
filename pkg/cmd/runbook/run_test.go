package runbook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/immichmetrics"
	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

// backlogExporter serves the Immich worker's metrics (the fixture written from
// Immich's source) with a thumbnail queue of 612 jobs in progress and a success
// counter that does not move: a stuck queue.
func backlogExporter(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	body := strings.Replace(immichmetrics.Exposition(immichmetrics.MicroservicesWorker()),
		"immich_queues_thumbnail_generation_active 0\n", "immich_queues_thumbnail_generation_active 612\n", 1)
	require.Contains(t, body, "immich_queues_thumbnail_generation_active 612")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// resolve ends the alerts the test fired, leaving the bed's Alertmanager as found.
func resolve(t *testing.T, url string, labelSets ...map[string]string) {
	var alerts models.PostableAlerts
	for _, ls := range labelSets {
		alerts = append(alerts, &models.PostableAlert{Alert: models.Alert{Labels: ls}, EndsAt: strfmt.DateTime(time.Now().Add(-time.Second))})
	}
	assert.NoError(t, amtest.Client(t, url).PostAlerts(context.Background(), alerts))
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, cond), "waiting for %s", what)
}

func decodeReport(t *testing.T, out string) runbook.Report {
	t.Helper()
	var rep runbook.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

func stepByTitle(t *testing.T, rep runbook.Report, title string) runbook.StepResult {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Title == title {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", title, rep.Steps)
	return runbook.StepResult{}
}

// TestRunQueueRunbookOnTheBed runs ImmichThumbnailQueueStuck against a real
// Prometheus scraping a stuck queue and a real Immich-like pod whose logs and
// restarts are read through the API server: read-only first (the problem is
// reported, nothing changes), then with --yes (the restart and the silence happen).
func TestRunQueueRunbookOnTheBed(t *testing.T) {
	bed, mon := testbed.RequireMonitoring(t)
	testbed.RequireRunPods(t)
	ctx := context.Background()
	ns := bed.Namespace(t)
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte("namespaces:\n  immich: "+ns+"\n"), 0o600))

	exporter := backlogExporter(t)
	prom := servers.PrometheusT(t, servers.Options{}, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: immich-worker
  static_configs: [{targets: [%q], labels: {job: immich-metrics, namespace: %q}}]
`, exporter, ns), nil)

	// Immich's server: a Deployment whose pod really runs (busybox) and logs a failing job.
	labels := map[string]string{"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "immich"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "immich-server", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "server", Image: "busybox:1.37",
					Command: []string{"sh", "-c", "echo 'AssetGenerateThumbnails: job for asset 42 failed: image decode timeout'; sleep 3600"},
				}}},
			},
		},
	}
	_, err := bed.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	var podName string
	waitFor(t, "the server's pod to log", 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := bed.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=immich"})
		if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return false, err
		}
		podName = pods.Items[0].Name
		logs, err := bed.Client.CoreV1().Pods(ns).GetLogs(podName, &corev1.PodLogOptions{}).DoRaw(ctx)
		return err == nil && strings.Contains(string(logs), "AssetGenerateThumbnails"), nil
	})
	waitFor(t, "Prometheus to scrape the backlog", time.Minute, func(ctx context.Context) (bool, error) {
		resp, err := http.Get(prom.URL + "/api/v1/query?query=immich_queues_thumbnail_generation_active")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(body), `"612"`), nil
	})

	amURL := mon.Alertmanager.URL
	silences := len(amtest.Silences(t, amURL))
	rv := func() string {
		d, err := bed.Client.AppsV1().Deployments(ns).Get(ctx, "immich-server", metav1.GetOptions{})
		require.NoError(t, err)
		return d.ResourceVersion
	}
	before := rv()
	args := []string{"--kubeconfig", bed.Kubeconfig, "--config", config, "--prometheus-url", prom.URL, "runbook", "run", "ImmichThumbnailQueueStuck"}

	began := time.Now()
	r := plugintest.Run(t, append(args, "--read-only")...)
	t.Logf("runbook run --read-only took %s", time.Since(began))
	assert.Equal(t, 1, r.Code, "a queue with a backlog is a problem still present\n%s\n%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stdout, "612")
	assert.Contains(t, r.Stdout, "× problem still present: the problem is present: a value is > 500")
	assert.Contains(t, r.Stdout, podName+" phase=Running restarts=0")
	assert.Contains(t, r.Stdout, "AssetGenerateThumbnails: job for asset 42 failed")
	assert.Contains(t, r.Stdout, "- skipped: changes the cluster: not run with --read-only")
	assert.Equal(t, before, rv(), "--read-only changes nothing")
	assert.Len(t, amtest.Silences(t, amURL), silences, "--read-only adds no silence")

	began = time.Now()
	r = plugintest.Run(t, append(args, "--yes", "-o", "json")...)
	t.Logf("runbook run --yes took %s", time.Since(began))
	assert.Equal(t, 1, r.Code, r.Stderr)
	rep := decodeReport(t, r.Stdout)
	assert.Equal(t, ns, rep.Labels["namespace"])
	depth := stepByTitle(t, rep, "jobs in progress now")
	assert.Equal(t, runbook.StatusProblem, depth.Status)
	assert.Contains(t, depth.Output, "612")
	assert.Equal(t, runbook.StatusProblem, stepByTitle(t, rep, "in progress, none finished in 5m").Status)
	restart := stepByTitle(t, rep, "restart the Immich server")
	assert.Equal(t, runbook.StatusOK, restart.Status, restart.Reason)
	assert.Equal(t, "deployment.apps/immich-server restarted\n", restart.Output)
	assert.Equal(t, "kubectl -n "+ns+" rollout restart deployment/immich-server", restart.Command)
	d, err := bed.Client.AppsV1().Deployments(ns).Get(ctx, "immich-server", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"], "the restart happened")
	silence := stepByTitle(t, rep, "silence the alert for 6 hours")
	assert.Equal(t, runbook.StatusOK, silence.Status, silence.Reason)
	lines := strings.Split(strings.TrimSpace(silence.Output), "\n")
	id := lines[len(lines)-1] // silence add prints the ID last (a warning may come first)
	t.Cleanup(func() { plugintest.Run(t, "--kubeconfig", bed.Kubeconfig, "--config", config, "silence", "expire", id) })
	found := false
	for _, s := range amtest.Silences(t, amURL) {
		if s.ID != nil && *s.ID == id && strings.Contains(*s.Comment, "queue catching up") {
			found = true
		}
	}
	assert.True(t, found, "the silence %q is in Alertmanager", id)

	// Asked: yes to the restart, no to the silence.
	rvBefore := rv()
	r = plugintest.Runner{Stdin: "y\nn\n"}.Run(t, append(args, "-o", "json")...)
	assert.Equal(t, 1, r.Code, "%s\n%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "Run `kubectl -n "+ns+" rollout restart deployment/immich-server`? [y/N] ")
	rep = decodeReport(t, r.Stdout)
	assert.Equal(t, runbook.StatusOK, stepByTitle(t, rep, "restart the Immich server").Status)
	assert.Equal(t, runbook.StatusDeclined, stepByTitle(t, rep, "silence the alert for 6 hours").Status)
	assert.NotEqual(t, rvBefore, rv(), "the confirmed restart happened")
	assert.Len(t, amtest.Silences(t, amURL), silences+1, "the declined silence was not added")
}

// TestRunBackupRunbooksOnTheBed: a backup Job that really failed (a wrong
// database password), the BackupJobFailed alert firing in the real
// Alertmanager: the runbook takes the Job from the alert's labels and reports
// the failure and the Job's logs; --read-only leaves the CronJob and its Jobs
// alone. Without a name, runbook run lists the runbooks of the firing alerts.
func TestRunBackupRunbooksOnTheBed(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{DBPassword: "not-the-password"})
	ctx := context.Background()
	base := []string{"--kubeconfig", b.Cluster.Kubeconfig, "--config", b.Config}
	r := plugintest.Runner{Timeout: 4 * time.Minute}.Run(t, append(base, "backup", "run", "--wait")...)
	require.Equal(t, 1, r.Code, "a backup with a wrong password fails: %s", r.Stderr)
	jobs, err := b.Cluster.Client.BatchV1().Jobs(b.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1)
	job := jobs.Items[0].Name

	amURL := b.Monitoring.Alertmanager.URL
	firing := []map[string]string{
		{"alertname": "BackupJobFailed", "severity": "warning", "namespace": b.Namespace, "job_name": job},
		{"alertname": "ImmichThumbnailQueueStuck", "severity": "warning", "namespace": "immich"},
	}
	amtest.PostAlerts(t, amURL, firing[0])
	t.Cleanup(func() { resolve(t, amURL, firing...) })

	state := func() map[string]string {
		out := map[string]string{}
		cj, err := b.Cluster.Client.BatchV1().CronJobs(b.Namespace).Get(ctx, b.Settings.Backup.CronJob, metav1.GetOptions{})
		require.NoError(t, err)
		out["cronjob"] = cj.ResourceVersion
		jobs, err := b.Cluster.Client.BatchV1().Jobs(b.Namespace).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, j := range jobs.Items {
			out["job/"+j.Name] = j.ResourceVersion
		}
		return out
	}
	before := state()
	began := time.Now()
	r = plugintest.Run(t, append(base, "runbook", "run", "BackupJobFailed", "--read-only", "-o", "json")...)
	t.Logf("runbook run BackupJobFailed --read-only took %s", time.Since(began))
	assert.Equal(t, 1, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "Using the labels of the firing alert")
	rep := decodeReport(t, r.Stdout)
	assert.Equal(t, job, rep.Labels["job_name"], "the Job comes from the firing alert")
	status := stepByTitle(t, rep, "backup status")
	assert.Equal(t, runbook.StatusProblem, status.Status)
	assert.Contains(t, status.Output, job)
	assert.Contains(t, status.Output, "Failed")
	logs := stepByTitle(t, rep, "logs of the failed Job")
	assert.Equal(t, runbook.StatusOK, logs.Status, logs.Reason)
	assert.Contains(t, logs.Output, "password authentication failed")
	assert.NotContains(t, r.Stdout, b.DBPassword)
	assert.Equal(t, runbook.StatusOK, stepByTitle(t, rep, "backup Jobs").Status)
	run := stepByTitle(t, rep, "run a backup now")
	assert.Equal(t, runbook.StatusSkipped, run.Status)
	assert.Equal(t, before, state(), "--read-only: no Job made, nothing changed")

	// BackupStale on the same failure: the status says the last Job failed, the
	// CronJob and its Jobs are read, the NAS is listed for real (it is empty).
	began = time.Now()
	r = plugintest.Runner{Timeout: 3 * time.Minute}.Run(t, append(base, "runbook", "run", "BackupStale", "--read-only", "-o", "json")...)
	t.Logf("runbook run BackupStale --read-only (lists the NAS through a Job) took %s", time.Since(began))
	assert.Equal(t, 1, r.Code, r.Stderr)
	rep = decodeReport(t, r.Stdout)
	assert.Equal(t, runbook.StatusProblem, stepByTitle(t, rep, "backup status").Status)
	cronjob := stepByTitle(t, rep, "the backup CronJob")
	assert.Equal(t, runbook.StatusOK, cronjob.Status, cronjob.Reason)
	assert.Contains(t, cronjob.Output, b.Settings.Backup.CronJob)
	list := stepByTitle(t, rep, "dumps on the NAS")
	assert.Equal(t, runbook.StatusOK, list.Status, list.Reason)
	assert.Equal(t, runbook.StatusSkipped, stepByTitle(t, rep, "reinstall the backup component").Status)
	assert.Equal(t, before["cronjob"], state()["cronjob"], "--read-only: the CronJob is unchanged")

	// Without a name and one alert with a runbook firing: that runbook runs.
	r = plugintest.Run(t, append(base, "runbook", "run", "--read-only")...)
	assert.Equal(t, 1, r.Code, r.Stderr)
	t.Logf("runbook run --read-only, text:\n%s", r.Stdout)
	assert.Contains(t, r.Stderr, "Firing: BackupJobFailed")
	assert.Contains(t, r.Stdout, "password authentication failed")

	// Without a name and several: the runbooks of the alerts firing in the real Alertmanager.
	amtest.PostAlerts(t, amURL, firing[1])
	r = plugintest.Run(t, append(base, "runbook", "run")...)
	assert.Equal(t, 2, r.Code, "several firing: stdin is no terminal, so the list and exit 2\n%s\n%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stdout, "BackupJobFailed")
	assert.Contains(t, r.Stdout, "ImmichThumbnailQueueStuck")
	assert.NotContains(t, r.Stdout, "Watchdog", "Watchdog has no runbook")
	assert.Contains(t, r.Stderr, "kubectl picluster runbook run NAME")
}
