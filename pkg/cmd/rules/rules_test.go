package rules_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func run(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	r := plugintest.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

const ruleFile = `groups:
- name: general.rules
  rules:
  - alert: Watchdog
    expr: vector(1)
- name: immich.jobs
  rules:
  - alert: SeedThumbnailQueue
    expr: immich_server_thumbnail_queue_size > 100
  - alert: TargetDown
    expr: up == 0
`

const brokenRule = `  - record: broken:up
    expr: up * on() up
`

func startPrometheus(t *testing.T, rules string) *servers.Prometheus {
	t.Helper()
	closed := proc.ClosedPort(t)
	p := servers.PrometheusT(t, servers.Options{}, "", nil)
	cfg := servers.UpAndDownConfig(p, closed)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Reload(ctx, cfg, map[string]string{"rules.yaml": rules}))
	// Wait until both targets were scraped and every rule was evaluated on them
	// (Prometheus says "unknown" until then): TargetDown fires for the target where
	// nothing listens. Waiting on the state itself, not a sleep, holds on a slow machine.
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(context.Context) (bool, error) {
		out, _, _ := run(t, "--prometheus-url", p.URL, "rules", "-o", "json")
		var groups []struct {
			Rules []struct {
				Name   string `json:"name"`
				State  string `json:"state"`
				Health string `json:"health"`
			} `json:"rules"`
		}
		if json.Unmarshal([]byte(out), &groups) != nil || len(groups) < 2 || len(groups[1].Rules) < 2 {
			return false, nil
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Health == "unknown" {
					return false, nil
				}
			}
		}
		return groups[1].Rules[1].Name == "TargetDown" && groups[1].Rules[1].State == "firing", nil
	}))
	return p
}

func TestRulesFlagsAlertsThatMatchNoSeries(t *testing.T) {
	p := startPrometheus(t, ruleFile)
	out, errOut, code := run(t, "--prometheus-url", p.URL, "rules")
	require.Equal(t, exitcode.OK, code, errOut)
	for _, s := range []string{"GROUP", "SERIES", "general.rules", "Watchdog", "firing", "SeedThumbnailQueue", "NONE: immich_server_thumbnail_queue_size", "TargetDown"} {
		assert.Contains(t, out, s)
	}
	assert.Contains(t, errOut, "Warning: SeedThumbnailQueue can never fire: immich_server_thumbnail_queue_size has no series")
	assert.NotContains(t, errOut, "TargetDown")

	out, _, code = run(t, "--prometheus-url", p.URL, "rules", "-o", "json")
	require.Equal(t, exitcode.OK, code)
	var groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Name          string   `json:"name"`
			Kind          string   `json:"kind"`
			Health        string   `json:"health"`
			State         string   `json:"state"`
			NoSeries      bool     `json:"noSeries"`
			MissingSeries []string `json:"missingSeries"`
		} `json:"rules"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &groups), out)
	require.Len(t, groups, 2)
	assert.Equal(t, "Watchdog", groups[0].Rules[0].Name)
	assert.Equal(t, "firing", groups[0].Rules[0].State)
	assert.False(t, groups[0].Rules[0].NoSeries)
	seed := groups[1].Rules[0]
	assert.Equal(t, "SeedThumbnailQueue", seed.Name)
	assert.Equal(t, "alert", seed.Kind)
	assert.Equal(t, "ok", seed.Health)
	assert.True(t, seed.NoSeries)
	assert.Equal(t, []string{"immich_server_thumbnail_queue_size"}, seed.MissingSeries)
	assert.False(t, groups[1].Rules[1].NoSeries, "up exists")
	assert.Equal(t, "firing", groups[1].Rules[1].State, "the nothing target is down")
}

func TestRulesFailOnARuleThatErrs(t *testing.T) {
	p := startPrometheus(t, ruleFile+brokenRule)
	out, errOut, code := run(t, "--prometheus-url", p.URL, "rules")
	assert.Equal(t, exitcode.Failure, code)
	assert.Contains(t, out, "broken:up")
	assert.Contains(t, errOut, "1 rule fails to evaluate:")
	assert.Contains(t, errOut, "immich.jobs/broken:up: ")
}
