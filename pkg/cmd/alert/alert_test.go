package alert_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func counters(t *testing.T, url string) am.NotificationCounters {
	t.Helper()
	c, err := amtest.Client(t, url).NotificationCounters(context.Background())
	require.NoError(t, err)
	return c
}

// testAlerts returns the test alerts Alertmanager still holds as firing.
func testAlerts(t *testing.T, url string) models.GettableAlerts {
	return amtest.Alerts(t, url, `alertname="`+am.TestAlertName+`"`)
}

func TestWaitEndToEnd(t *testing.T) {
	srv, sink := amtest.Start(t)
	before := counters(t, srv.URL)["webhook"]

	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "test", "--wait", "--timeout", "30s", "--label", "namespace=immich")
	require.NoError(t, r.Err, r.Stderr)
	testID := strings.TrimSpace(r.Stdout)
	require.Regexp(t, `^[0-9a-f]{12}$`, testID, "stdout is the test ID")
	for _, step := range []string{
		"posted PiclusterTestAlert test_id=" + testID,
		"the alert is active in Alertmanager and routes to receiver sink (webhook)",
		"the firing notification went out through webhook",
		"resolved the alert",
		"the resolved notification went out through webhook",
		"ok: PiclusterTestAlert test_id=" + testID + " was delivered and resolved",
	} {
		assert.Contains(t, r.Stderr, step)
	}

	// The sink really got both notifications, and the counters really rose.
	assert.True(t, sink.Seen("firing", am.TestIDLabel, testID), "firing notification at the sink")
	assert.True(t, sink.Seen("resolved", am.TestIDLabel, testID), "resolved notification at the sink")
	for _, n := range sink.Notifications() {
		for _, a := range n.Alerts {
			if a.Labels[am.TestIDLabel] == testID {
				assert.Equal(t, map[string]string{"alertname": am.TestAlertName, "test_id": testID, "severity": "warning", "namespace": "immich"}, a.Labels)
			}
		}
	}
	after := counters(t, srv.URL)["webhook"]
	assert.GreaterOrEqual(t, after.Notifications-before.Notifications, 2.0)
	assert.GreaterOrEqual(t, (after.Requests-after.RequestsFailed)-(before.Requests-before.RequestsFailed), 2.0)
	assert.Equal(t, before.Failed, after.Failed)
	assert.Empty(t, testAlerts(t, srv.URL), "resolved: gone from Alertmanager's alerts")
}

func TestWaitJSONReport(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "test", "--wait", "--timeout", "30s", "-o", "json")
	require.NoError(t, r.Err, r.Stderr)
	var rep am.TestAlertReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep))
	assert.Equal(t, []string{"sink"}, rep.Receivers)
	assert.Equal(t, []am.Integration{{Name: "webhook", Configs: 1, SendResolved: true}}, rep.Integrations)
	require.Len(t, rep.Firing, 1)
	assert.True(t, rep.Firing[0].OK())
	require.Len(t, rep.Resolved, 1)
	assert.True(t, rep.Resolved[0].OK())
}

func TestWithoutWait(t *testing.T) {
	srv, sink := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "test", "--resolve-after", "2m", "--severity", "critical", "-l", "team=home")
	require.NoError(t, r.Err)
	testID := strings.TrimSpace(r.Stdout)
	alerts := amtest.Alerts(t, srv.URL, `test_id="`+testID+`"`)
	require.Len(t, alerts, 1)
	a := alerts[0]
	assert.Equal(t, models.LabelSet{"alertname": am.TestAlertName, "test_id": testID, "severity": "critical", "team": "home"}, a.Labels)
	assert.WithinDuration(t, time.Now().Add(2*time.Minute), time.Time(*a.EndsAt), 5*time.Second)
	assert.NotEmpty(t, a.Annotations["summary"])
	require.Eventually(t, func() bool { return sink.Seen("firing", am.TestIDLabel, testID) }, 10*time.Second, 100*time.Millisecond)
}

func TestWaitFailures(t *testing.T) {
	tests := map[string]struct {
		setup func(t *testing.T, url string) string // returns what the error must name
		args  []string
		code  int
		want  string
	}{
		"silenced": {
			setup: func(t *testing.T, url string) string {
				r := plugintest.Run(t, "--alertmanager-url", url, "silence", "add", am.TestAlertName, "-d", "1h", "-c", "quiet please", "-a", "dave")
				require.NoError(t, r.Err)
				return "silence " + strings.TrimSpace(r.Stdout) + ` (alertname="PiclusterTestAlert", by dave: "quiet please"`
			},
			code: exitcode.Failure, want: "the test alert is muted, so nobody is notified",
		},
		"inhibited": {
			setup: func(t *testing.T, url string) string {
				amtest.PostAlerts(t, url, map[string]string{"alertname": "Inhibitor", "namespace": "immich"})
				return `inhibiting alert {alertname="Inhibitor", namespace="immich"}`
			},
			args: []string{"-l", "team=inhibited"}, code: exitcode.Failure, want: "the test alert is muted",
		},
		"routed to a receiver without integrations": {
			args: []string{"-l", "team=nobody"}, code: exitcode.Failure, want: `routes to receiver null, which has no integrations`,
		},
		"delivery fails": {
			args: []string{"-l", "team=broken"}, code: exitcode.Failure, want: "the firing notification through webhook failed after 1 attempt (",
		},
		"timeout": {
			args: []string{"-l", "team=slow", "--timeout", "2s"}, code: exitcode.Timeout, want: "timed out waiting for the firing notification",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, _ := amtest.Start(t)
			also := ""
			if tc.setup != nil {
				also = tc.setup(t, srv.URL)
			}
			r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "alert", "test", "--wait", "--timeout", "30s"}, tc.args...)...)
			require.Error(t, r.Err)
			assert.Equal(t, tc.code, r.Code, "%v", r.Err)
			assert.Contains(t, r.Err.Error(), tc.want)
			assert.Contains(t, r.Err.Error(), also)
			assert.Regexp(t, `^[0-9a-f]{12}\n$`, r.Stdout, "the test ID is still printed")
			assert.Empty(t, testAlerts(t, srv.URL), "the test alert is resolved again")
		})
	}
}

func TestBadInputPostsNothing(t *testing.T) {
	srv, _ := amtest.Start(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"label without value":  {args: []string{"-l", "team"}, want: `--label "team": want name=value`},
		"bad label name":       {args: []string{"-l", "a-b=c"}, want: "want name=value"},
		"overriding alertname": {args: []string{"-l", "alertname=Other"}, want: "sets alertname itself"},
		"overriding test_id":   {args: []string{"-l", "test_id=1"}, want: "sets test_id itself"},
		"zero resolve-after":   {args: []string{"--resolve-after", "0s"}, want: `invalid argument "0s" for "--resolve-after" flag: must be greater than 0`},
		"negative resolve":     {args: []string{"--resolve-after", "-5m"}, want: `invalid argument "-5m" for "--resolve-after" flag: must be greater than 0`},
		"bad resolve-after":    {args: []string{"--resolve-after", "later"}, want: "not a duration"},
		"zero timeout":         {args: []string{"--wait", "--timeout", "0s"}, want: `invalid argument "0s" for "--timeout" flag: must be greater than 0`},
		"bad output":           {args: []string{"-o", "wide"}, want: "unsupported output format"},
		"stray argument":       {args: []string{"now"}, want: "unknown command"},
		"bad wait":             {args: []string{"--wait=fired"}, want: `invalid argument "fired" for "--wait" flag: use delivered or resolved`},
		"wait value apart":     {args: []string{"--wait", "delivered"}, want: "write --wait=delivered"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "alert", "test"}, tc.args...)...)
			require.Error(t, r.Err)
			assert.Equal(t, exitcode.Usage, r.Code)
			assert.Contains(t, r.Err.Error(), tc.want)
			assert.Empty(t, r.Stdout)
			assert.Empty(t, amtest.Alerts(t, srv.URL), "nothing posted")
		})
	}
	r := plugintest.Run(t, "--alertmanager-url", amtest.ClosedURL(t), "alert", "test", "--wait")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "cannot reach Alertmanager")
	r = plugintest.Run(t, "--alertmanager-url", amtest.ClosedURL(t), "alert", "list")
	assert.Equal(t, exitcode.Usage, r.Code)
}

func TestList(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "list")
	require.NoError(t, r.Err)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, "No alerts")

	amtest.PostAlerts(t, srv.URL,
		map[string]string{"alertname": "TargetDown", "namespace": "monitoring", "severity": "warning", "job": "node"},
		map[string]string{"alertname": "ImmichServerDown", "namespace": "immich", "severity": "critical"},
	)
	sil := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "TargetDown", "-d", "1h", "-c", "reboot")
	require.NoError(t, sil.Err)
	silID := strings.TrimSpace(sil.Stdout)

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "list")
	require.NoError(t, r.Err)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^ALERTNAME\s+STATE\s+SEVERITY\s+STARTS\s+LABELS\s+MUTED BY$`, lines[0])
	assert.Regexp(t, `^ImmichServerDown\s+active\s+critical\s+.*\s+namespace="immich"$`, lines[1])
	assert.Regexp(t, `^TargetDown\s+suppressed\s+warning\s+.*\s+job="node",namespace="monitoring"\s+silence `+silID+`$`, lines[2])

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "list", "namespace=immich", "-o", "json")
	require.NoError(t, r.Err)
	var alerts models.GettableAlerts
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &alerts))
	require.Len(t, alerts, 1)
	assert.Equal(t, "ImmichServerDown", alerts[0].Labels["alertname"])

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "list", "job=~(")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "invalid matcher")
}
