package check_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// TestCheckThroughTheServiceProxy reaches the bed's in-cluster Prometheus and
// Alertmanager the default way, through the API server's service proxy (each call
// there takes tens of milliseconds), with a kubeconfig alone. The bundle is not
// installed there, so checks fail (exit 1), but none for want of a connection.
func TestCheckThroughTheServiceProxy(t *testing.T) {
	bed, _ := testbed.RequireMonitoring(t)
	var r jsonReport
	var code int
	deadline := time.Now().Add(90 * time.Second)
	for {
		var out string
		out, _, code = run(t, "--kubeconfig", bed.Kubeconfig, "--config", defaultSettingsFile(t), "check", "-o", "json")
		r = parseReport(t, out)
		if status, _, _, _ := r.find(t, "alerting/watchdog"); status == "ok" || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	assert.Equal(t, exitcode.Failure, code)
	for _, id := range []string{"kubernetes/api-server", "kubernetes/permissions", "monitoring/crds", "monitoring/prometheus", "monitoring/alertmanager", "alerting/watchdog"} {
		status, msg, _, _ := r.find(t, id)
		assert.Equal(t, "ok", status, "%s: %s", id, msg)
	}
	_, msg, _, _ := r.find(t, "monitoring/prometheus")
	assert.Contains(t, msg, "through the API server at "+bed.Server)
	_, msg, _, _ = r.find(t, "monitoring/helmrelease")
	assert.Contains(t, msg, "does not exist")

	t.Logf("check through the service proxy: %.3fs wall, %d API calls, slowest %.3fs (%s)",
		r.DurationSeconds, r.APICalls.Count, r.APICalls.SlowestSeconds, r.APICalls.SlowestCall)
	require.Greater(t, r.APICalls.SlowestSeconds, 0.0)
	// Wall time over the slowest call is measured by hack/bench-check.sh, not asserted.
	assert.NotEmpty(t, r.APICalls.SlowestCall)
}
