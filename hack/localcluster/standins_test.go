package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// TestMain shares one bed among the tests that need it (only the stand-ins test).
func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }

// plugin runs kubectl picluster in-process.
func plugin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := plugintest.Runner{Timeout: 3 * time.Minute}.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

// The demo's path, as a test: install the bundle into the bed, let the stand-ins
// reconcile, and every check passes, warnings included, through the API server's
// service proxy alone. A second pass changes nothing; no throwaway value is logged.
func TestStandInsMakeCheckPass(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the test bed with Prometheus and Alertmanager")
	}
	c, m := testbed.RequireMonitoring(t)
	s := settings.Default()
	config := filepath.Join(t.TempDir(), "config.yaml")
	data, err := yaml.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(config, data, 0o600))
	global := []string{"--kubeconfig", c.Kubeconfig, "--config", config}

	var serverLog bytes.Buffer
	si, err := newStandIns(c, m, nil, s, &serverLog)
	require.NoError(t, err)
	t.Cleanup(si.Stop)

	out, errOut, code := plugin(t, append(global, "install")...)
	require.Equal(t, exitcode.OK, code, "install:\n%s\n%s", out, errOut)

	ctx, cancel := context.WithTimeout(context.Background(), passTimeout)
	defer cancel()
	var first bytes.Buffer
	require.NoError(t, si.reconcile(ctx, &passLog{w: &first}, true), first.String())
	for _, want := range []string{
		"playing External Secrets: ExternalSecret monitoring/alertmanager-discord-webhook Ready: wrote Secret",
		"playing source-controller: HelmRepository monitoring/prometheus-community Ready",
		"playing helm-controller: HelmRelease monitoring/kube-prometheus-stack: Alertmanager config rendered from",
		"playing helm-controller: HelmRelease monitoring/kube-prometheus-stack Ready (install of kube-prometheus-stack@",
		"playing Immich: chart object Deployment immich/immich-server created",
		"playing prometheus-operator: Prometheus reloaded: scrape pools serviceMonitor/immich/immich-metrics/0 (1 target)",
		"playing backup: Job backup-jobs/postgres-backup-manual-",
		"the CronJob controller recorded lastSuccessfulTime",
	} {
		assert.Contains(t, first.String(), want)
	}

	out, errOut, code = plugin(t, append(global, "check", "--wait", "90s", "--fail-on-warning")...)
	require.Equal(t, exitcode.OK, code, "check:\n%s\n%s\nstand-ins:\n%s", out, errOut, first.String())
	assert.Contains(t, out, "18 checks: 18 ok, 0 warnings, 0 failed")

	// Alertmanager runs the bundle's Discord receiver, pointed at the local stand-in.
	assert.Contains(t, si.amLoaded, "webhook_url: "+si.discord.base+"/api/webhooks/")
	assert.NotContains(t, si.amLoaded, "discord.com")

	// Nothing left to do: a quiet pass says nothing, an asked-for one only what it found.
	var quiet, second bytes.Buffer
	require.NoError(t, si.reconcile(ctx, &passLog{w: &quiet, quiet: true}, false))
	assert.Empty(t, quiet.String())
	require.NoError(t, si.reconcile(ctx, &passLog{w: &second}, true))
	assert.NotContains(t, second.String(), "created")
	assert.NotContains(t, second.String(), "reloaded")
	assert.Contains(t, second.String(), "no new backup")

	// No value of the throwaway vault shows anywhere.
	secrets, err := c.Client.CoreV1().Secrets(s.Namespaces.Backup).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	logs := first.String() + second.String() + serverLog.String() + out + errOut
	values := 0
	for _, sec := range secrets.Items {
		for _, v := range sec.Data {
			if len(v) >= 16 {
				values++
				assert.False(t, strings.Contains(logs, string(v)), "a value of Secret %s shows in the output", sec.Name)
			}
		}
	}
	assert.Equal(t, 3, values, "the two backup Secrets hold three throwaway values")
}
