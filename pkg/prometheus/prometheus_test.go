package prometheus

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/endpoint"
)

// TestAgainstRealPrometheus asks a real Prometheus (it scrapes itself and a port
// where nothing listens) for targets, rules and series.
func TestAgainstRealPrometheus(t *testing.T) {
	port := proc.ClosedPort(t)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: self
  static_configs: [{targets: ["127.0.0.1:PROMPORT"]}]
- job_name: nothing
  static_configs: [{targets: ["127.0.0.1:%d"]}]
`, port)
	rules := map[string]string{"r.yaml": `groups:
- name: test
  rules:
  - alert: Watchdog
    expr: vector(1)
  - alert: WrongName
    expr: immich_server_thumbnail_queue_size > 100
  - alert: RightName
    expr: up{job="self"} == 0
  - record: broken:sum
    expr: sum(up) / on(nonexistent) group_left sum(up) by (job)
`}
	// The config needs Prometheus's own port: start, then reload with it.
	p := servers.PrometheusT(t, servers.Options{}, "", rules)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.Reload(ctx, replacePort(cfg, p.Port), rules))
	u, err := url.Parse(p.URL)
	require.NoError(t, err)
	c, err := New(endpoint.Direct("Prometheus", u, 0))
	require.NoError(t, err)

	v, err := c.Version(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, v)

	var targets []Target
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		targets, err = c.ActiveTargets(ctx)
		if err != nil {
			return false, err
		}
		scraped := 0
		for _, t := range targets {
			if !t.LastScrape.IsZero() {
				scraped++
			}
		}
		return scraped == 2, nil
	}), "both targets scraped")
	require.Len(t, targets, 2)
	assert.Equal(t, "nothing", targets[0].Job)
	assert.Equal(t, HealthDown, targets[0].Health)
	assert.Contains(t, targets[0].LastError, "connection refused")
	assert.Equal(t, "self", targets[1].Job)
	assert.Equal(t, HealthUp, targets[1].Health)
	assert.Equal(t, time.Second, targets[1].ScrapeInterval)

	var groups []RuleGroup
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		groups, err = c.Rules(ctx)
		return err == nil && len(groups) == 1 && !groups[0].Rules[0].LastEvaluation.IsZero(), err
	}))
	require.Len(t, groups[0].Rules, 4)
	assert.Equal(t, KindAlert, groups[0].Rules[0].Kind)
	assert.Equal(t, KindRecord, groups[0].Rules[3].Kind)

	queries := []string{groups[0].Rules[0].Query, groups[0].Rules[1].Query, groups[0].Rules[2].Query, "sum(rate(x[5m])"}
	series, err := c.ExprSeries(ctx, queries, time.Hour, time.Now())
	require.NoError(t, err)
	assert.True(t, series[0].CanFire, "vector(1)")
	assert.False(t, series[1].CanFire, "wrong metric name")
	assert.Equal(t, []string{"immich_server_thumbnail_queue_size"}, series[1].Missing)
	assert.True(t, series[2].CanFire, "up exists")
	assert.Error(t, series[3].ParseErr)

	firing, err := c.FiringAlerts(ctx)
	require.NoError(t, err)
	assert.True(t, firing["Watchdog"])
}

func replacePort(cfg string, port int) string {
	return strings.ReplaceAll(cfg, "PROMPORT", fmt.Sprint(port))
}
