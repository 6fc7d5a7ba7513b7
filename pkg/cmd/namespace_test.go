package cmd_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd"
)

// takeNamespace are the commands for which -n overrides a setting; every other
// one refuses it.
var takeNamespace = []string{"maintenance start", "maintenance stop", "alert test", "alert list", "silence list", "webhook test", "backup run", "backup status", "backup list", "backup verify", "restore"}

// leaves returns every runnable, visible command below c by its path.
func leaves(c *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	for _, sub := range c.Commands() {
		if sub.Hidden || sub.Name() == "help" {
			continue
		}
		if sub.HasSubCommands() {
			for k, v := range leaves(sub) {
				out[k] = v
			}
			continue
		}
		out[strings.TrimPrefix(sub.CommandPath(), c.Root().CommandPath()+" ")] = sub
	}
	return out
}

// TestNamespaceHonouredOrRefused: every command's help says what -n means for
// it; a command that gives it no meaning refuses it (exit 2) before it does
// anything, instead of ignoring it.
func TestNamespaceHonouredOrRefused(t *testing.T) {
	kc := noCluster(t)
	closed := amtest.ClosedURL(t)
	all := leaves(cmd.NewRootCmd(genericiooptions.NewTestIOStreamsDiscard()))
	require.Greater(t, len(all), 15)
	for path, c := range all {
		t.Run(path, func(t *testing.T) {
			honoured := slices.Contains(takeNamespace, path)
			help := plugintest.Run(t, append(strings.Fields(path), "--help")...)
			require.Zero(t, help.Code)
			if honoured {
				assert.Contains(t, help.Stdout, "-n/--namespace: ")
			} else {
				assert.Contains(t, help.Stdout, "-n/--namespace is refused (exit 2)")
			}
			args := append([]string{"--kubeconfig", kc, "--request-timeout", "1s", "--alertmanager-url", closed, "--prometheus-url", closed, "-n", "backup-jobs"}, strings.Fields(path)...)
			r := plugintest.Run(t, args...)
			if honoured {
				if r.Err != nil {
					assert.NotContains(t, r.Err.Error(), "-n/--namespace", "%s takes -n", path)
				}
				return
			}
			assert.Equal(t, 2, r.Code, "%s refuses -n", c.CommandPath())
			require.Error(t, r.Err)
			assert.Contains(t, r.Err.Error(), "does not take -n/--namespace")
		})
	}
	for _, path := range takeNamespace {
		assert.Contains(t, all, path)
	}
}

// TestNamespaceOverridesTheSetting runs the commands that take -n against a real
// Alertmanager and the bed's API server: -n is what they act on.
func TestNamespaceOverridesTheSetting(t *testing.T) {
	srv, _ := amtest.Start(t)
	run := func(args ...string) plugintest.Result {
		return plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL}, args...)...)
	}

	t.Run("maintenance start mutes the namespace given", func(t *testing.T) {
		r := run("-n", "backup-jobs", "maintenance", "start", "-d", "1h")
		require.NoError(t, r.Err, r.Stderr)
		ws := am.MaintenanceWindows(amtest.Silences(t, srv.URL))
		require.Len(t, ws, 1)
		assert.Equal(t, `namespace="backup-jobs"`, am.FormatAPIMatchers(ws[0].Matchers))
		require.NoError(t, run("maintenance", "stop").Err) // the Immich window: none
		require.Len(t, am.MaintenanceWindows(amtest.Silences(t, srv.URL)), 1, "backup-jobs' window still runs")
		require.NoError(t, run("-n", "backup-jobs", "maintenance", "stop").Err)

		r = run("-n", "backup-jobs", "maintenance", "start", "-d", "1h", "job=x")
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Err.Error(), "either matchers or -n/--namespace")
		assert.Empty(t, am.MaintenanceWindows(amtest.Silences(t, srv.URL)), "nothing started")

		for _, args := range [][]string{{"stop", "job=x"}, {"stop", "--all"}} {
			r = run(append([]string{"-n", "backup-jobs", "maintenance"}, args...)...)
			assert.Equal(t, 2, r.Code, "%v", args)
		}
	})

	t.Run("alert and silence lists narrow to the namespace", func(t *testing.T) {
		amtest.PostAlerts(t, srv.URL,
			map[string]string{"alertname": "ImmichServerDown", "namespace": "immich"},
			map[string]string{"alertname": "BackupStale", "namespace": "backup-jobs"},
		)
		amtest.Amtool(t, srv.URL, "silence", "add", "namespace=immich", "-c", "immich", "-d", "1h")
		amtest.Amtool(t, srv.URL, "silence", "add", "namespace=backup-jobs", "-c", "backup", "-d", "1h")
		r := run("-n", "immich", "alert", "list", "-o", "jsonpath={.items[*].labels.alertname}")
		require.NoError(t, r.Err, r.Stderr)
		assert.Equal(t, "ImmichServerDown", r.Stdout)
		r = run("-n", "immich", "silence", "list", "-o", "jsonpath={.items[*].comment}")
		require.NoError(t, r.Err, r.Stderr)
		assert.Equal(t, "immich", r.Stdout)
	})

	t.Run("alert test labels its alert with the namespace", func(t *testing.T) {
		r := run("-n", "immich", "alert", "test", "--resolve-after", "1m")
		require.NoError(t, r.Err, r.Stderr)
		alerts := amtest.Alerts(t, srv.URL, am.TestIDLabel+"="+strings.TrimSpace(r.Stdout))
		require.Len(t, alerts, 1)
		assert.Equal(t, "immich", alerts[0].Labels["namespace"])
	})

	t.Run("webhook test reads the Secret from the namespace given", func(t *testing.T) {
		c := testbed.Require(t)
		ns := c.Namespace(t)
		fake := amtest.NewFakeDiscord(t)
		_, err := c.Client.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "alertmanager-discord-webhook"},
			StringData: map[string]string{"webhookUrl": fake.URL},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		r := plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "-n", ns, "webhook", "test")
		require.NoError(t, r.Err, r.Stderr)
		assert.Contains(t, r.Stdout, "secret "+ns+"/alertmanager-discord-webhook")
		assert.Len(t, fake.Requests(), 1)
	})

	t.Run("check refuses -n rather than checking the settings' namespaces", func(t *testing.T) {
		r := run("-n", "nosuchns", "check")
		assert.Equal(t, 2, r.Code)
	})
}
