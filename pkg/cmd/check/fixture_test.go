package check_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/check"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// setup is one test's installed setup: the bundle's objects in three namespaces of
// the bed's API server, with the statuses their controllers would write; a real
// Prometheus scraping a local exporter the way the operator would from the
// ServiceMonitor; a real Alertmanager receiving Prometheus's alerts.
type setup struct {
	t        *testing.T
	bed      *testbed.Cluster
	settings *settings.Settings
	config   string // settings file
	objects  []*unstructured.Unstructured
	exporter *exporter
	prom     *servers.Prometheus
	am       *servers.Alertmanager
	discord  *httpSink
}

// setupOptions change what the setup starts with.
type setupOptions struct {
	// editSettings changes the settings (and so the bundle) before anything is made.
	editSettings func(*settings.Settings)
	// noWatchdog leaves the always-firing Watchdog rule out of Prometheus.
	noWatchdog bool
}

func newSetup(t *testing.T, o setupOptions) *setup {
	t.Helper()
	bed := testbed.Require(t)
	s := settings.Default()
	s.Namespaces = settings.Namespaces{Monitoring: bed.Namespace(t), Immich: bed.Namespace(t), Backup: bed.Namespace(t)}
	if o.editSettings != nil {
		o.editSettings(s)
	}
	su := &setup{t: t, bed: bed, settings: s, exporter: newExporter(t, s), discord: newHTTPSink(t)}
	su.config = filepath.Join(t.TempDir(), "config.yaml")
	data, err := yaml.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(su.config, data, 0o600))

	su.objects, err = bundle.Render(s, bundle.Monitoring, bundle.Immich, bundle.Backup)
	require.NoError(t, err)
	su.apply()
	su.writeStatuses()

	amCfg, err := bundle.AlertmanagerConfig(s)
	require.NoError(t, err)
	// Never let a test Alertmanager talk to Discord: the bundle's placeholder URL
	// points at the test's own sink.
	amCfg = strings.ReplaceAll(amCfg, bundle.PlaceholderWebhookURL, su.discord.url)
	amCfg = strings.Replace(amCfg, "group_wait: 30s", "group_wait: 1s", 1)
	su.am = servers.AlertmanagerT(t, servers.Options{}, amCfg)
	su.prom = servers.PrometheusT(t, servers.Options{}, su.prometheusConfig(true), su.ruleFiles(!o.noWatchdog))
	return su
}

// apply creates the bundle's objects (Namespaces are the test's own) server-side.
func (su *setup) apply() {
	t := su.t
	ctx := context.Background()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(su.bed.Client.Discovery()))
	for _, o := range su.objects {
		if o.GetKind() == "Namespace" {
			continue
		}
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err, gvk.String())
		data, err := o.MarshalJSON()
		require.NoError(t, err)
		_, err = su.bed.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace()).
			Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "test", Force: ptrTo(true)})
		require.NoError(t, err, "apply %s %s/%s", gvk.Kind, o.GetNamespace(), o.GetName())
	}
	// A pod behind the metrics Service, so its EndpointSlice has a ready endpoint.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "immich-server", Namespace: su.settings.Namespaces.Immich, Labels: su.settings.Immich.PodSelector},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "ghcr.io/immich-app/immich-server:v1.135.3"}}},
	}
	_, err := su.bed.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
}

// writeStatuses writes what helm-controller, ESO and the CronJob controller would.
func (su *setup) writeStatuses() {
	s := su.settings
	su.setHelmReleaseReady()
	for _, o := range su.objects {
		if o.GetKind() == "ExternalSecret" {
			su.setExternalSecret(o.GetNamespace(), o.GetName(), "True", "SecretSynced", "secret synced")
		}
	}
	su.setLastSuccess(time.Now().Add(-2 * time.Hour))
	su.addBackupJob("postgres-backup-1", batchv1.JobComplete, time.Now())
	_ = s
}

func (su *setup) setStatus(gvrOf *unstructured.Unstructured, resource string, status map[string]any) {
	t := su.t
	ctx := context.Background()
	gv := gvrOf.GroupVersionKind().GroupVersion()
	res := gv.WithResource(resource)
	obj, err := su.bed.Dynamic.Resource(res).Namespace(gvrOf.GetNamespace()).Get(ctx, gvrOf.GetName(), metav1.GetOptions{})
	require.NoError(t, err)
	obj.Object["status"] = status
	_, err = su.bed.Dynamic.Resource(res).Namespace(obj.GetNamespace()).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	require.NoError(t, err, "update status of %s %s", resource, obj.GetName())
}

func ref(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func (su *setup) setHelmReleaseReady() {
	s := su.settings
	hr := ref("helm.toolkit.fluxcd.io/v2", "HelmRelease", s.Namespaces.Monitoring, s.Monitoring.HelmRelease)
	su.setStatus(hr, "helmreleases", map[string]any{
		"observedGeneration": int64(1),
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "InstallSucceeded", "observedGeneration": int64(1),
			"message":            "Helm install succeeded for release " + s.Namespaces.Monitoring + "/kube-prometheus-stack.v1 with chart kube-prometheus-stack@" + s.Monitoring.ChartVersion,
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}},
	})
}

func (su *setup) setExternalSecret(ns, name, ready, reason, message string) {
	es := ref("external-secrets.io/v1", "ExternalSecret", ns, name)
	su.setStatus(es, "externalsecrets", map[string]any{
		"refreshTime": time.Now().UTC().Format(time.RFC3339),
		"conditions": []any{map[string]any{
			"type": "Ready", "status": ready, "reason": reason, "message": message,
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}},
	})
}

// setLastSuccess sets the CronJob's lastSuccessfulTime and the matching
// kube-state-metrics series.
func (su *setup) setLastSuccess(at time.Time) {
	t := su.t
	ctx := context.Background()
	s := su.settings
	cjs := su.bed.Client.BatchV1().CronJobs(s.Namespaces.Backup)
	cj, err := cjs.Get(ctx, s.Backup.CronJob, metav1.GetOptions{})
	require.NoError(t, err)
	cj.Status.LastSuccessfulTime = &metav1.Time{Time: at}
	_, err = cjs.UpdateStatus(ctx, cj, metav1.UpdateOptions{})
	require.NoError(t, err)
	su.exporter.setLastSuccess(at)
}

// addBackupJob adds a Job of the CronJob that ended (complete or failed) at finished. The Job names
// another manager, so the Job controller leaves its status to the test.
func (su *setup) addBackupJob(name string, final batchv1.JobConditionType, finished time.Time) {
	t := su.t
	ctx := context.Background()
	s := su.settings
	cj, err := su.bed.Client.BatchV1().CronJobs(s.Namespaces.Backup).Get(ctx, s.Backup.CronJob, metav1.GetOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.Namespaces.Backup, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptrTo(true),
		}}},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	job.Spec.ManagedBy = ptrTo("picluster.dev/test")
	job.Spec.Suspend = ptrTo(true)
	created, err := su.bed.Client.BatchV1().Jobs(s.Namespaces.Backup).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	start := metav1.NewTime(finished.Add(-time.Minute))
	end := metav1.NewTime(finished)
	created.Status.StartTime = &start
	switch final {
	case batchv1.JobComplete:
		created.Status.Succeeded = 1
		created.Status.CompletionTime = &end
		created.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end},
		}
	case batchv1.JobFailed:
		created.Status.Failed = 1
		created.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end},
		}
	}
	_, err = su.bed.Client.BatchV1().Jobs(s.Namespaces.Backup).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err, "set status of job %s", name)
}

// deleteJob deletes a Job and waits until it is gone.
func (su *setup) deleteJob(name string) {
	t := su.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jobs := su.bed.Client.BatchV1().Jobs(su.settings.Namespaces.Backup)
	require.NoError(t, jobs.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)}))
	require.NoError(t, proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := jobs.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}))
	time.Sleep(time.Second) // let the CronJob controller see it go
}

// prometheusConfig is what prometheus-operator would generate from the bundle's
// ServiceMonitor (one scrape pool per endpoint, job = Service name), plus
// kube-state-metrics (honor_labels) and Alertmanager. withImmich false drops the
// ServiceMonitor's pools, as the operator does for a ServiceMonitor that selects nothing.
func (su *setup) prometheusConfig(withImmich bool) string {
	s := su.settings
	var b strings.Builder
	fmt.Fprintf(&b, `global: {scrape_interval: 1s, evaluation_interval: 1s}
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
- job_name: kube-state-metrics
  honor_labels: true
  metrics_path: /ksm
  static_configs: [{targets: [%q]}]
- job_name: alertmanager
  static_configs: [{targets: [%q]}]
`, hostPort(su.am.URL), su.exporter.addr, hostPort(su.am.URL))
	if withImmich {
		for i, port := range []string{"api-metrics", "worker-metrics"} {
			fmt.Fprintf(&b, `- job_name: %s
  metrics_path: /metrics/%s
  static_configs: [{targets: [%q], labels: {job: %q, namespace: %q, service: %q, endpoint: %q}}]
`, check.ScrapePoolPrefix(s.Namespaces.Immich, s.Immich.MetricsService)+fmt.Sprint(i), port, su.exporter.addr,
				s.Immich.MetricsService, s.Namespaces.Immich, s.Immich.MetricsService, port)
		}
	}
	return b.String()
}

// watchdogRule is kube-prometheus-stack's Watchdog (vector(1)), pending for a few
// seconds: Prometheus drops the alerts it evaluates before it has discovered its
// Alertmanagers (up to 5 s after a start or reload) and sends them again only after
// its resend delay (1 minute), so a Watchdog that fires at once would reach
// Alertmanager a minute late.
var watchdogRule = strings.Replace(testbed.DefaultWatchdogRule, "    expr: vector(1)\n", "    expr: vector(1)\n    for: 8s\n", 1)

// ruleFiles are the bundle's PrometheusRules as the operator loads them, and
// kube-prometheus-stack's Watchdog.
func (su *setup) ruleFiles(watchdog bool) map[string]string {
	groups, err := bundle.RuleGroups(su.settings)
	require.NoError(su.t, err)
	files := map[string]string{}
	for name, content := range groups {
		files[name+".yaml"] = content
	}
	if watchdog {
		files["general.yaml"] = watchdogRule
	}
	return files
}

func (su *setup) reloadPrometheus(withImmich, watchdog bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(su.t, su.prom.Reload(ctx, su.prometheusConfig(withImmich), su.ruleFiles(watchdog)))
}

func hostPort(u string) string {
	return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
}

func ptrTo[T any](v T) *T { return &v }

// args are the global flags that point the plugin at the setup.
func (su *setup) args(extra ...string) []string {
	return append([]string{"--kubeconfig", su.bed.Kubeconfig, "--config", su.config,
		"--prometheus-url", su.prom.URL, "--alertmanager-url", su.am.URL}, extra...)
}

// run runs the plugin in-process and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := plugintest.Runner{Timeout: 3 * time.Minute}.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

// waitHealthy waits until `check` passes, so the faults start from a healthy setup.
func (su *setup) waitHealthy() {
	su.t.Helper()
	out, errOut, code := run(su.t, su.args("check", "--wait", "90s")...)
	require.Equal(su.t, exitcode.OK, code, "the setup never became healthy:\n%s\n%s", out, errOut)
}

func schemaParseGV(s string) (schema.GroupVersion, error) { return schema.ParseGroupVersion(s) }

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with UPDATE_GOLDEN=1 to write %s", path)
	require.Equal(t, string(want), got)
}
