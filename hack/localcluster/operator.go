package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// The Prometheus configuration the prometheus-operator stand-in writes, as plain
// data: rendering it is a pure function, gathering it from the cluster is in
// operator_gather.go.

// scrapeTarget is one endpoint address of a Service a ServiceMonitor selects.
type scrapeTarget struct {
	Address string            // ip:port
	Labels  map[string]string // namespace, service, endpoint, pod, job
}

// scrapePool is one endpoint of one ServiceMonitor: prometheus-operator makes one
// scrape config per endpoint and names it serviceMonitor/NAMESPACE/NAME/INDEX.
type scrapePool struct {
	Name        string
	Path        string
	Scheme      string
	Interval    string
	Timeout     string
	HonorLabels bool
	Targets     []scrapeTarget
}

// prometheusSetup is everything the rendered configuration holds.
type prometheusSetup struct {
	ScrapeInterval     string
	EvaluationInterval string
	ExternalLabels     map[string]string
	Alertmanagers      []string // ip:port, API v2
	Pools              []scrapePool
}

// Types for the YAML of prometheus.yml (only what the stand-in writes).
type promConfig struct {
	Global        promGlobal         `json:"global"`
	Alerting      promAlerting       `json:"alerting"`
	ScrapeConfigs []promScrapeConfig `json:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string            `json:"scrape_interval"`
	EvaluationInterval string            `json:"evaluation_interval"`
	ExternalLabels     map[string]string `json:"external_labels,omitempty"`
}

type promAlerting struct {
	Alertmanagers []promAlertmanager `json:"alertmanagers"`
}

type promAlertmanager struct {
	APIVersion    string             `json:"api_version"`
	PathPrefix    string             `json:"path_prefix"`
	StaticConfigs []promStaticConfig `json:"static_configs"`
}

type promScrapeConfig struct {
	JobName        string             `json:"job_name"`
	HonorLabels    bool               `json:"honor_labels,omitempty"`
	ScrapeInterval string             `json:"scrape_interval,omitempty"`
	ScrapeTimeout  string             `json:"scrape_timeout,omitempty"`
	MetricsPath    string             `json:"metrics_path,omitempty"`
	Scheme         string             `json:"scheme,omitempty"`
	StaticConfigs  []promStaticConfig `json:"static_configs"`
}

type promStaticConfig struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// renderPrometheusConfig writes prometheus.yml for the setup. Where the operator uses
// Kubernetes service discovery and relabelling, the stand-in writes the result
// (static targets with the same labels): Prometheus runs in the bed's network
// namespace, where the API server on the host's loopback is out of reach.
func renderPrometheusConfig(s prometheusSetup) (string, error) {
	cfg := promConfig{
		Global: promGlobal{ScrapeInterval: s.ScrapeInterval, EvaluationInterval: s.EvaluationInterval, ExternalLabels: s.ExternalLabels},
		Alerting: promAlerting{Alertmanagers: []promAlertmanager{{
			APIVersion: "v2", PathPrefix: "/", StaticConfigs: []promStaticConfig{{Targets: sortedCopy(s.Alertmanagers)}},
		}}},
		ScrapeConfigs: []promScrapeConfig{},
	}
	pools := append([]scrapePool(nil), s.Pools...)
	sort.Slice(pools, func(i, j int) bool { return poolLess(pools[i].Name, pools[j].Name) })
	for _, p := range pools {
		sc := promScrapeConfig{
			JobName: p.Name, HonorLabels: p.HonorLabels, ScrapeInterval: p.Interval, ScrapeTimeout: p.Timeout,
			MetricsPath: p.Path, Scheme: p.Scheme, StaticConfigs: []promStaticConfig{},
		}
		targets := append([]scrapeTarget(nil), p.Targets...)
		sort.Slice(targets, func(i, j int) bool { return targets[i].Address < targets[j].Address })
		for _, t := range targets {
			if _, _, err := net.SplitHostPort(t.Address); err != nil {
				return "", fmt.Errorf("scrape pool %s: target %q: %w", p.Name, t.Address, err)
			}
			sc.StaticConfigs = append(sc.StaticConfigs, promStaticConfig{Targets: []string{t.Address}, Labels: t.Labels})
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("write prometheus config: %w", err)
	}
	return string(out), nil
}

// poolLess orders scrape pools by name, endpoint indexes numerically.
func poolLess(a, b string) bool {
	ai, bi := strings.LastIndex(a, "/"), strings.LastIndex(b, "/")
	if ai >= 0 && bi >= 0 && a[:ai] == b[:bi] {
		an, aerr := strconv.Atoi(a[ai+1:])
		bn, berr := strconv.Atoi(b[bi+1:])
		if aerr == nil && berr == nil {
			return an < bn
		}
	}
	return a < b
}

// ruleFileName is how prometheus-operator names the rule file of a PrometheusRule.
func ruleFileName(namespace, name, uid string) string {
	return fmt.Sprintf("%s-%s-%s.yaml", namespace, name, uid)
}

// renderRuleFile writes a PrometheusRule's spec.groups (prometheus-operator's
// []monitoringv1.RuleGroup, or the same as plain YAML values) as a Prometheus rule file.
func renderRuleFile(groups any) (string, error) {
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		return "", fmt.Errorf("write rule file: %w", err)
	}
	return string(out), nil
}

func sortedCopy(in []string) []string {
	out := append([]string{}, in...)
	sort.Strings(out)
	return out
}

// describePools says, for the log, how many targets each pool has.
func describePools(pools []scrapePool) string {
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		names = append(names, fmt.Sprintf("%s (%s)", p.Name, plural(len(p.Targets), "target")))
	}
	sort.Slice(names, func(i, j int) bool { return poolLess(strings.Fields(names[i])[0], strings.Fields(names[j])[0]) })
	if len(names) == 0 {
		return "none (no ServiceMonitor)"
	}
	return strings.Join(names, ", ")
}
