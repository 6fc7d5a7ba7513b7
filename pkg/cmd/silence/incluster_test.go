package silence_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// TestThroughTheAPIServer uses no --alertmanager-url: every command reaches the
// in-cluster Alertmanager (Service monitoring/alertmanager-operated:web) through the
// API server's service proxy, as on the real cluster; results are checked against
// Alertmanager directly.
func TestThroughTheAPIServer(t *testing.T) {
	c, mon := testbed.RequireMonitoring(t)
	direct := mon.Alertmanager.URL
	run := func(args ...string) plugintest.Result {
		return plugintest.Run(t, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	}

	r := run("silence", "add", "ImmichServerDown", "namespace=immich", "-d", "1h", "-c", "through the proxy")
	require.NoError(t, r.Err, r.Stderr)
	id := strings.TrimSpace(r.Stdout)
	t.Cleanup(func() { _ = run("silence", "expire", id) })
	s := byID(t, direct, id)
	assert.Equal(t, `alertname="ImmichServerDown" namespace="immich"`, am.FormatAPIMatchers(s.Matchers))

	r = run("silence", "list", "-o", "json")
	require.NoError(t, r.Err)
	var listed []models.GettableSilence
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &listed))
	var ids []string
	for _, s := range listed {
		ids = append(ids, *s.ID)
	}
	assert.Contains(t, ids, id)

	r = run("silence", "extend", id, "-d", "30m")
	require.NoError(t, r.Err)
	assert.Equal(t, id+"\n", r.Stdout)

	amtest.PostAlerts(t, direct, map[string]string{"alertname": "ImmichServerDown", "namespace": "immich"})
	r = run("alert", "list", "namespace=immich", "-o", "json")
	require.NoError(t, r.Err)
	var alerts models.GettableAlerts
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &alerts))
	require.Len(t, alerts, 1)
	assert.Equal(t, []string{id}, alerts[0].Status.SilencedBy)

	r = run("maintenance", "start", "-d", "1h")
	require.NoError(t, r.Err)
	mid := strings.TrimSpace(r.Stdout)
	r = run("maintenance", "status", "-o", "json")
	require.NoError(t, r.Err)
	assert.Contains(t, r.Stdout, mid)
	require.NoError(t, run("maintenance", "stop").Err)
	assert.Empty(t, am.MaintenanceWindows(amtest.Silences(t, direct)))

	// The bed routes everything to a "null" receiver: the test alert's flow (status,
	// /metrics and alerts through the proxy) ends by saying nobody is notified.
	r = run("alert", "test", "--wait", "--timeout", "30s")
	require.Error(t, r.Err)
	assert.Equal(t, exitcode.Failure, r.Code)
	assert.Contains(t, r.Err.Error(), "routes to receiver null, which has no integrations")

	require.NoError(t, run("silence", "expire", id).Err)
	assert.Equal(t, am.StateExpired, am.State(byID(t, direct, id)))
}
