package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// With the route's group_interval at an hour, as a real route's 5m feels at 3 a.m.:
// --wait=delivered stops once the firing notification went out (and resolves the
// alert), while --wait=resolved (a bare --wait) waits for the resolved notification,
// which only the next group_interval sends.
func TestWaitDeliveredStopsAtTheFiringNotification(t *testing.T) {
	sink := amtest.NewSink(t)
	cfg := amtest.Config(sink.URL)
	require.Contains(t, cfg, "group_interval: 1s")
	srv := servers.AlertmanagerT(t, servers.Options{}, strings.Replace(cfg, "group_interval: 1s", "group_interval: 1h", 1))

	began := time.Now()
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "test", "--wait=delivered", "--timeout", "30s")
	require.NoError(t, r.Err, r.Stderr)
	assert.Less(t, time.Since(began), 20*time.Second)
	testID := strings.TrimSpace(r.Stdout)
	assert.True(t, sink.Seen("firing", am.TestIDLabel, testID), "the firing notification reached the sink")
	assert.Contains(t, r.Stderr, "the firing notification went out through webhook")
	assert.Contains(t, r.Stderr, "resolved the alert")
	assert.NotContains(t, r.Stderr, "waiting for the resolved notification")
	assert.Contains(t, r.Stderr, "ok: PiclusterTestAlert test_id="+testID+" was delivered (and resolved in Alertmanager)")
	assert.Empty(t, testAlerts(t, srv.URL), "nothing left firing")

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "alert", "test", "--wait", "--timeout", "5s")
	assert.Equal(t, exitcode.Timeout, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "waiting for the resolved notification (sent at the route's next group_interval)")
	assert.Contains(t, r.Err.Error(), "resolved notification")
	assert.Empty(t, testAlerts(t, srv.URL), "nothing left firing")
}
