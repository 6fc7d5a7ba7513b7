package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestMain(m *testing.M) {
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}

// bed returns the shared API server, a namespace of the test's own standing in for
// the monitoring namespace, and a settings file that points there.
func bed(t *testing.T) (*testbed.Cluster, string, string) {
	t.Helper()
	c := testbed.Require(t)
	ns := c.Namespace(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "namespaces:\n  monitoring: %s\n", ns), 0o600))
	return c, ns, cfg
}

func createSecret(t *testing.T, c *testbed.Cluster, ns string, data map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmanager-discord-webhook"},
		StringData: data,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// assertRedacted checks that no part of the webhook's secret shows anywhere.
func assertRedacted(t *testing.T, r plugintest.Result) {
	t.Helper()
	all := r.All()
	assert.NotContains(t, all, amtest.HookToken)
	assert.NotContains(t, all, amtest.HookID)
	assert.NotContains(t, all, "/api/webhooks/")
}

func TestWebhookTest(t *testing.T) {
	c := testbed.Require(t)
	tests := map[string]struct {
		script   []func(http.ResponseWriter)
		badToken bool
		args     []string
		code     int
		want     string
		requests int
	}{
		"delivered": {
			requests: 1, want: "took the test message (webhook from secret NS/alertmanager-discord-webhook key webhookUrl, message 1190000000000000001)",
		},
		"rate limited, then delivered": {
			script:   []func(http.ResponseWriter){amtest.RateLimited(`{"message": "You are being rate limited.", "retry_after": 0.4, "global": false}`, "1")},
			requests: 2, want: "took the test message",
		},
		"unknown webhook": {
			badToken: true, requests: 1, code: exitcode.Failure, want: "refused the message: 404 Not Found: Unknown Webhook (code 10015)",
		},
		"Discord error": {
			script:   []func(http.ResponseWriter){amtest.DiscordStatus(400, `{"message": "Cannot send an empty message", "code": 50006}`)},
			requests: 1, code: exitcode.Failure, want: "Cannot send an empty message (code 50006)",
		},
		"rate limited for too long": {
			script:   []func(http.ResponseWriter){amtest.RateLimited(`{"retry_after": 600}`, "")},
			requests: 1, code: exitcode.Failure, want: "rate limits the webhook for 10m0s",
		},
		"timeout while rate limited": {
			script: []func(http.ResponseWriter){amtest.RateLimited(`{"retry_after": 30}`, "")},
			args:   []string{"--timeout", "1s"}, requests: 1, code: exitcode.Timeout, want: "timed out waiting for Discord's rate limit",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := amtest.NewFakeDiscord(t, tc.script...)
			url := fake.URL
			if tc.badToken {
				url = strings.Replace(url, amtest.HookToken, "x"+amtest.HookToken, 1)
			}
			secretNS := c.Namespace(t)
			createSecret(t, c, secretNS, map[string]string{"webhookUrl": url + "\n"})
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "namespaces:\n  monitoring: %s\n", secretNS), 0o600))

			r := plugintest.Run(t, append([]string{"--kubeconfig", c.Kubeconfig, "--config", cfg, "webhook", "test"}, tc.args...)...)
			assertRedacted(t, r)
			got := fake.Requests()
			require.Len(t, got, tc.requests)
			for _, req := range got {
				assert.Equal(t, http.MethodPost, req.Method)
				assert.Equal(t, "application/json", req.ContentType)
				assert.Equal(t, "wait=true", req.Query)
				require.Len(t, req.Body.Embeds, 1)
				assert.Equal(t, "Test message from kubectl picluster", req.Body.Embeds[0].Title)
				assert.Equal(t, "kubectl picluster", req.Body.Username)
			}
			if tc.code == 0 {
				require.NoError(t, r.Err, r.Stderr)
				assert.Contains(t, r.Stdout, strings.ReplaceAll(tc.want, "NS", secretNS))
				return
			}
			require.Error(t, r.Err)
			assert.Equal(t, tc.code, r.Code, "%v", r.Err)
			assert.Contains(t, r.Err.Error(), tc.want)
		})
	}
}

func TestWebhookTestJSON(t *testing.T) {
	c, ns, cfg := bed(t)
	fake := amtest.NewFakeDiscord(t, amtest.RateLimited(`{"retry_after": 0.1}`, ""))
	createSecret(t, c, ns, map[string]string{"webhookUrl": fake.URL})
	r := plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", cfg, "webhook", "test", "-o", "json")
	require.NoError(t, r.Err)
	assertRedacted(t, r)
	assert.Contains(t, r.Stderr, "Discord rate limits the webhook: retrying in 100ms")
	var res am.WebhookResult
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res))
	assert.Equal(t, am.WebhookResult{Status: 200, MessageID: "1190000000000000001", Retries: 1, Host: strings.Split(strings.TrimPrefix(fake.URL, "http://"), "/")[0]}, res)
}

// TestWebhookTestJSONWhenDiscordRefuses: -o json prints Discord's answer and
// the reason also when Discord refuses the message (exit 1).
func TestWebhookTestJSONWhenDiscordRefuses(t *testing.T) {
	c, ns, cfg := bed(t)
	fake := amtest.NewFakeDiscord(t, amtest.DiscordStatus(400, `{"message": "Cannot send an empty message", "code": 50006}`))
	createSecret(t, c, ns, map[string]string{"webhookUrl": fake.URL})
	r := plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", cfg, "webhook", "test", "-o", "json")
	require.Error(t, r.Err)
	assert.Equal(t, exitcode.Failure, r.Code)
	assertRedacted(t, r)
	var res am.WebhookResult
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	assert.Equal(t, 400, res.Status)
	assert.Equal(t, r.Err.Error(), res.Error)
	assert.Contains(t, res.Error, "Cannot send an empty message (code 50006)")
	assert.Contains(t, r.Stderr, res.Error, "the message is on stderr too")
}

func TestWebhookTestSecretProblems(t *testing.T) {
	c, ns, cfg := bed(t)
	fake := amtest.NewFakeDiscord(t)
	run := func(args ...string) plugintest.Result {
		return plugintest.Run(t, append([]string{"--kubeconfig", c.Kubeconfig, "--config", cfg, "webhook", "test"}, args...)...)
	}

	r := run()
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "secret "+ns+"/alertmanager-discord-webhook not found (settings key monitoring.discordWebhookSecret)")

	createSecret(t, c, ns, map[string]string{"url": fake.URL, "other": "x"})
	r = run()
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), `has no key "webhookUrl"`)
	assert.Contains(t, r.Err.Error(), "it has: other, url")
	assertRedacted(t, r)

	// Another key, named in settings; a value that is no URL; an unreachable Discord.
	other := filepath.Join(t.TempDir(), "other.yaml")
	require.NoError(t, os.WriteFile(other, fmt.Appendf(nil, "namespaces:\n  monitoring: %s\nmonitoring:\n  discordWebhookSecret:\n    name: alertmanager-discord-webhook\n    key: other\n", ns), 0o600))
	r = plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", other, "webhook", "test")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "not an http(s) URL")

	closed := filepath.Join(t.TempDir(), "closed.yaml")
	ns2 := c.Namespace(t)
	createSecret(t, c, ns2, map[string]string{"webhookUrl": amtest.ClosedURL(t) + amtest.HookPath})
	require.NoError(t, os.WriteFile(closed, fmt.Appendf(nil, "namespaces:\n  monitoring: %s\n", ns2), 0o600))
	r = plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", closed, "webhook", "test")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "cannot reach the Discord webhook")
	assertRedacted(t, r)

	// A user who may not read Secrets is told so (exit 2), and Discord is never called.
	r = plugintest.Run(t, "--kubeconfig", c.NoRightsKubeconfig, "--config", cfg, "webhook", "test")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "forbidden")
	assert.Empty(t, fake.Requests())

	r = run("extra")
	assert.Equal(t, exitcode.Usage, r.Code)
	r = run("-o", "table")
	assert.Equal(t, exitcode.Usage, r.Code)
}

// TestWebhookURLNotInDebugLogs runs at kubectl's -v=9, where client-go logs every
// response body: the Secret's (which holds the URL) must not be among them.
func TestWebhookURLNotInDebugLogs(t *testing.T) {
	c, ns, cfg := bed(t)
	fake := amtest.NewFakeDiscord(t)
	createSecret(t, c, ns, map[string]string{"webhookUrl": fake.URL})
	var logs bytes.Buffer
	klog.LogToStderr(false)
	klog.SetOutput(&logs)
	t.Cleanup(func() { klog.SetOutput(os.Stderr); klog.LogToStderr(true) })

	r := plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", cfg, "-v", "9", "webhook", "test")
	t.Cleanup(func() { plugintest.Run(t, "-v", "0", "version", "--client") })
	require.NoError(t, r.Err)
	klog.Flush()
	require.Contains(t, logs.String(), "Config loaded from file", "-v 9 is in effect")
	// client-go hex-dumps protobuf bodies: join the dump's text column too.
	var dumped strings.Builder
	for _, m := range regexp.MustCompile(`\|([^|\n]{1,16})\|`).FindAllStringSubmatch(logs.String(), -1) {
		dumped.WriteString(m[1])
	}
	for _, secret := range []string{amtest.HookToken, amtest.HookID, base64.StdEncoding.EncodeToString([]byte(fake.URL))} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, dumped.String(), secret)
	}
	assertRedacted(t, r)
}
