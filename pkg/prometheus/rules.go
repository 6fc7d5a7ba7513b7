package prometheus

import (
	"context"
	"fmt"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Kinds of rule.
const (
	KindAlert  = "alert"
	KindRecord = "record"
)

// RuleGroup is one loaded rule group.
type RuleGroup struct {
	Name     string  `json:"name"`
	File     string  `json:"file"`
	Interval float64 `json:"intervalSeconds"`
	Rules    []Rule  `json:"rules"`
}

// Rule is one loaded alerting or recording rule.
type Rule struct {
	// Name is the alert name or the recorded metric.
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Query string `json:"query"`
	// Health is "ok", "err" or "unknown" (not evaluated yet).
	Health    string `json:"health"`
	LastError string `json:"lastError,omitempty"`
	// State is inactive, pending or firing (alerts only).
	State          string    `json:"state,omitempty"`
	ActiveAlerts   int       `json:"activeAlerts,omitempty"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	// Annotations of an alert (runbook_url, summary, ...).
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Rules lists the rule groups Prometheus has loaded.
func (c *Client) Rules(ctx context.Context) ([]RuleGroup, error) {
	res, err := c.API.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list Prometheus rules: %w", err)
	}
	return RuleGroupsFromAPI(res), nil
}

// RuleGroupsFromAPI converts the official client's answer.
func RuleGroupsFromAPI(res promv1.RulesResult) []RuleGroup {
	groups := make([]RuleGroup, 0, len(res.Groups))
	for _, g := range res.Groups {
		rg := RuleGroup{Name: g.Name, File: g.File, Interval: g.Interval}
		for _, r := range g.Rules {
			switch r := r.(type) {
			case promv1.AlertingRule:
				ann := make(map[string]string, len(r.Annotations))
				for k, v := range r.Annotations {
					ann[string(k)] = string(v)
				}
				rg.Rules = append(rg.Rules, Rule{
					Name: r.Name, Kind: KindAlert, Query: r.Query, Health: string(r.Health),
					LastError: r.LastError, State: r.State, ActiveAlerts: len(r.Alerts),
					LastEvaluation: r.LastEvaluation, Annotations: ann,
				})
			case promv1.RecordingRule:
				rg.Rules = append(rg.Rules, Rule{
					Name: r.Name, Kind: KindRecord, Query: r.Query, Health: string(r.Health),
					LastError: r.LastError, LastEvaluation: r.LastEvaluation,
				})
			}
		}
		groups = append(groups, rg)
	}
	return groups
}

// FiringAlerts returns the names of alerts Prometheus fires now (GET /api/v1/alerts).
func (c *Client) FiringAlerts(ctx context.Context) (map[string]bool, error) {
	res, err := c.API.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list Prometheus alerts: %w", err)
	}
	out := map[string]bool{}
	for _, a := range res.Alerts {
		if a.State == promv1.AlertStateFiring {
			out[string(a.Labels["alertname"])] = true
		}
	}
	return out, nil
}
