package testbed_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// newFactory is the plugin's factory as the root command builds it, for a kubeconfig and
// without any --*-url: Prometheus and Alertmanager are reached through the service proxy.
func newFactory(t *testing.T, kubeconfig string) *factory.Factory {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = ptr.To(kubeconfig)
	// No --config: the default settings file, kept away from the user's own.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	return factory.New(flags, &factory.Options{})
}

func TestDefaultConnectionReachesRealPrometheus(t *testing.T) {
	c, m := testbed.RequireMonitoring(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// /-/ready through the API server's service proxy, as the plugin's default path.
	body, err := c.Client.CoreV1().Services(testbed.MonitoringNamespace).
		ProxyGet("http", testbed.PrometheusService, "web", "-/ready", nil).DoRaw(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(body), "Ready")

	f := newFactory(t, c.Kubeconfig)
	client, err := f.Prometheus()
	require.NoError(t, err)
	assert.Contains(t, client.Endpoint.BaseURL.Path, "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy")
	api := client.API
	// The Watchdog rule proves the query path, and that rules and Alertmanager are wired.
	var vec model.Vector
	require.Eventually(t, func() bool {
		res, _, _, err := api.Query(ctx, `ALERTS{alertname="Watchdog",alertstate="firing"}`, time.Now())
		if err != nil {
			t.Logf("query: %v", err)
			return false
		}
		vec, _ = res.(model.Vector)
		return len(vec) == 1
	}, 30*time.Second, 500*time.Millisecond)
	up, _, _, err := api.Query(ctx, `up{job="prometheus"}`, time.Now())
	require.NoError(t, err)
	assert.Equal(t, model.ValVector, up.Type())
	bi, err := api.Buildinfo(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, bi.Version)
	assert.Equal(t, "http://"+c.PrometheusAddr(), m.Prometheus.URL)

	targets, err := api.Targets(ctx)
	require.NoError(t, err)
	var healthy int
	for _, tg := range targets.Active {
		if tg.Health == promv1.HealthGood {
			healthy++
		}
	}
	assert.Positive(t, healthy, "targets: %+v", targets.Active)
}

func TestDefaultConnectionReachesRealAlertmanager(t *testing.T) {
	c, _ := testbed.RequireMonitoring(t)
	f := newFactory(t, c.Kubeconfig)
	am, err := f.Alertmanager()
	require.NoError(t, err)
	st, err := am.Status(context.Background())
	require.NoError(t, err)
	require.NotNil(t, st.VersionInfo)
	assert.NotEmpty(t, *st.VersionInfo.Version)
	assert.Contains(t, *st.Config.Original, "receivers")
}

func TestInClusterObjectsAreNamedAsOnTheRealCluster(t *testing.T) {
	c, m := testbed.RequireMonitoring(t)
	ctx := context.Background()
	for _, tc := range []struct{ ns, svc, port string }{
		{testbed.MonitoringNamespace, testbed.PrometheusService, "web"},
		{testbed.MonitoringNamespace, testbed.AlertmanagerService, "web"},
		{testbed.MonitoringNamespace, testbed.PrometheusName, "http-web"},
		{testbed.MonitoringNamespace, testbed.AlertmanagerName, "http-web"},
		{testbed.ImmichNamespace, testbed.PostgresService, "tcp-postgresql"},
	} {
		svc, err := c.Client.CoreV1().Services(tc.ns).Get(ctx, tc.svc, metav1.GetOptions{})
		require.NoError(t, err, tc.svc)
		assert.Equal(t, tc.port, svc.Spec.Ports[0].Name, tc.svc)
	}
	pod, err := c.Client.CoreV1().Pods(testbed.MonitoringNamespace).Get(ctx, "prometheus-kube-prometheus-stack-prometheus-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, m.Prometheus.Host, pod.Status.PodIP)
	assert.Equal(t, "StatefulSet", pod.OwnerReferences[0].Kind)
	require.NotNil(t, m.Postgres)
	pg, err := c.Client.CoreV1().Pods(testbed.ImmichNamespace).Get(ctx, "immich-postgresql-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, m.Postgres.Host, pg.Status.PodIP)
}

func TestPluginCommandsUseTheServiceProxy(t *testing.T) {
	c, _ := testbed.RequireMonitoring(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"targets":      {args: []string{"targets"}, want: "prometheus"},
		"rules":        {args: []string{"rules"}, want: "Watchdog"},
		"silence list": {args: []string{"silence", "list"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runPlugin(t, append([]string{"--kubeconfig", c.Kubeconfig}, tc.args...)...)
			require.Equal(t, exitcode.OK, code, errOut)
			assert.Contains(t, out, tc.want)

			// The no-rights user: the API server's 403, said clearly, exit 2.
			_, errOut, code = runPlugin(t, append([]string{"--kubeconfig", c.NoRightsKubeconfig}, tc.args...)...)
			assert.Equal(t, exitcode.Usage, code, errOut)
			assert.Contains(t, errOut, "403 Forbidden")
			assert.Contains(t, errOut, `User "`+c.NoRightsUser+`" cannot get resource "services/proxy"`)
		})
	}
}

func TestNoRightsUserGetsClearMessageAndExit2(t *testing.T) {
	c, _ := testbed.RequireMonitoring(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFactory(t, c.NoRightsKubeconfig)
	client, err := f.Prometheus()
	require.NoError(t, err)
	_, _, _, err = client.API.Query(ctx, "up", time.Now())
	require.Error(t, err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err), "%v", err)
	msg := err.Error()
	assert.Contains(t, msg, "403")
	assert.Contains(t, msg, "forbidden")
	assert.Contains(t, msg, c.NoRightsUser)
	assert.Contains(t, msg, "prometheus-operated")

	am, err := f.Alertmanager()
	require.NoError(t, err)
	_, err = am.Status(ctx)
	require.Error(t, err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err), "%v", err)
	assert.True(t, strings.Contains(err.Error(), "forbidden"), err.Error())
}

// deployment is a minimal Deployment whose pods kwok runs.
func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "ghcr.io/immich-app/immich-server:v1.135.3"}}},
			},
		},
	}
}

func TestKubectlExecAndPortForwardReachRealServers(t *testing.T) {
	c, m := testbed.RequireMonitoring(t)
	require.NotNil(t, m.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// kwok runs exec'd commands on the host, with PG* pointing at the real Postgres.
	out, err := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.Kubeconfig, "-n", testbed.ImmichNamespace,
		"exec", "immich-postgresql-0", "--", "psql", "-Atc", "select current_database()").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "immich", strings.TrimSpace(string(out)))

	port, err := proc.FreePort()
	require.NoError(t, err)
	pf := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.Kubeconfig, "-n", testbed.MonitoringNamespace,
		"port-forward", "svc/"+testbed.AlertmanagerService, fmt.Sprintf("%d:web", port))
	require.NoError(t, pf.Start())
	t.Cleanup(func() { _ = pf.Process.Kill(); _ = pf.Wait() })
	require.NoError(t, proc.WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port)))
}
