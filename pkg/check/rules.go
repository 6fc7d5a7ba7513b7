package check

import (
	"context"
	"fmt"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

func rulesChecks(e *Env) []Check {
	return []Check{
		{Category: CategoryRules, Name: "rule-groups", Run: e.checkRuleGroups},
		{Category: CategoryRules, Name: "alert-series", Run: e.checkAlertSeries},
	}
}

// BundledGroup is a rule group of one of the bundle's PrometheusRules.
type BundledGroup struct {
	// Rule is namespace/name of the PrometheusRule.
	Rule  string
	Name  string
	Rules []BundledRule
}

// BundledRule is one rule of a bundled group.
type BundledRule struct {
	Alert  string `json:"alert"`
	Record string `json:"record"`
	Expr   string `json:"expr"`
}

// BundledGroups reads the rule groups out of PrometheusRule objects.
func BundledGroups(rules []*unstructured.Unstructured) ([]BundledGroup, error) {
	var out []BundledGroup
	for _, u := range rules {
		var pr monitoringv1.PrometheusRule
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pr); err != nil {
			return nil, fmt.Errorf("read PrometheusRule %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		for _, g := range pr.Spec.Groups {
			b := BundledGroup{Rule: pr.Namespace + "/" + pr.Name, Name: g.Name}
			for _, r := range g.Rules {
				b.Rules = append(b.Rules, BundledRule{Alert: r.Alert, Record: r.Record, Expr: r.Expr.String()})
			}
			out = append(out, b)
		}
	}
	return out, nil
}

func (e *Env) bundledGroups() ([]BundledGroup, error) {
	return BundledGroups(e.bundled(monitoringv1.SchemeGroupVersion.Group, monitoringv1.PrometheusRuleKind))
}

func (e *Env) checkRuleGroups(ctx context.Context) Result {
	bundled, err := e.bundledGroups()
	if err != nil {
		return Errored(err, hintSettings, "", "read the bundle's rule groups")
	}
	loaded, err := e.Rules(ctx)
	return EvaluateRuleGroups(bundled, loaded, err)
}

// EvaluateRuleGroups judges whether every bundled group is loaded in Prometheus
// and none of its rules reports an error.
func EvaluateRuleGroups(bundled []BundledGroup, loaded []prometheus.RuleGroup, err error) Result {
	if err != nil {
		return Errored(err, hintPrometheus, "", "list Prometheus rules")
	}
	if len(bundled) == 0 {
		return Warn("kubectl picluster install --export | grep -A3 'kind: PrometheusRule'", "", "the bundle has no rule groups to look for")
	}
	byName := map[string][]prometheus.RuleGroup{}
	for _, g := range loaded {
		byName[g.Name] = append(byName[g.Name], g)
	}
	var missing, broken []string
	rules := 0
	for _, b := range bundled {
		groups, ok := byName[b.Name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (from %s)", b.Name, b.Rule))
			continue
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				rules++
				if r.LastError != "" || r.Health == "err" {
					broken = append(broken, fmt.Sprintf("%s/%s: %s", g.Name, r.Name, r.LastError))
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return Fail("check that Prometheus selects the PrometheusRules (kube-prometheus-stack's ruleSelector) and that the operator accepted them: kubectl picluster rules",
			"", "%d of %s %s not loaded in Prometheus: %s", len(missing), output.Count(len(bundled), "bundled rule group"), output.Are(len(missing)), strings.Join(missing, ", "))
	}
	if len(broken) > 0 {
		return Fail("kubectl picluster rules", "", "%s %s to evaluate: %s", output.Count(len(broken), "rule"), failVerb(len(broken)), strings.Join(broken, "; "))
	}
	return OK("all %d bundled rule groups are loaded (%d rules, no errors)", len(bundled), rules)
}

// AlertExpr is an alert and the expression Prometheus evaluates for it.
type AlertExpr struct {
	Group, Alert, Expr string
}

func (e *Env) checkAlertSeries(ctx context.Context) Result {
	bundled, err := e.bundledGroups()
	if err != nil {
		return Errored(err, hintSettings, "", "read the bundle's rule groups")
	}
	loaded, err := e.Rules(ctx)
	if err != nil {
		return Errored(err, hintPrometheus, "", "list Prometheus rules")
	}
	alerts := AlertExprs(bundled, loaded)
	c, err := e.promClient()
	if err != nil {
		return Errored(err, hintPrometheus, "", "ask Prometheus for the alerts' series")
	}
	queries := make([]string, len(alerts))
	for i, a := range alerts {
		queries[i] = a.Expr
	}
	series, err := c.ExprSeries(ctx, queries, e.SeriesWindow, e.now())
	if err != nil {
		return Errored(err, hintPrometheus, "", "ask Prometheus for the alerts' series")
	}
	return EvaluateAlertSeries(alerts, series)
}

// AlertExprs lists the bundled alerts with the expression Prometheus has loaded
// for each (the bundle's own when the group is not loaded).
func AlertExprs(bundled []BundledGroup, loaded []prometheus.RuleGroup) []AlertExpr {
	loadedExpr := map[string]string{}
	for _, g := range loaded {
		for _, r := range g.Rules {
			if r.Kind == prometheus.KindAlert {
				loadedExpr[g.Name+"\x00"+r.Name] = r.Query
			}
		}
	}
	var out []AlertExpr
	for _, g := range bundled {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			expr, ok := loadedExpr[g.Name+"\x00"+r.Alert]
			if !ok {
				expr = r.Expr
			}
			out = append(out, AlertExpr{Group: g.Name, Alert: r.Alert, Expr: expr})
		}
	}
	return out
}

// EvaluateAlertSeries warns about every alert that can never fire because a
// metric it needs has no series (a wrong metric name, a target never scraped).
func EvaluateAlertSeries(alerts []AlertExpr, series []prometheus.AlertSeries) Result {
	var never, unparsable []string
	for i, a := range alerts {
		s := series[i]
		switch {
		case s.ParseErr != nil:
			unparsable = append(unparsable, fmt.Sprintf("%s: %v", a.Alert, s.ParseErr))
		case !s.CanFire:
			if missing := withoutEventSeries(s.Missing); len(missing) > 0 {
				never = append(never, fmt.Sprintf("%s can never fire: %s has no series", a.Alert, strings.Join(missing, " and ")))
			}
		}
	}
	if len(unparsable) > 0 {
		return Fail("kubectl picluster rules", "", "%s %s not parse: %s", output.Count(len(unparsable), "alert expression"), doVerb(len(unparsable)), strings.Join(unparsable, "; "))
	}
	if len(never) > 0 {
		return Warn("compare the metric names in the settings (immich.metrics) with what the targets export: kubectl picluster rules",
			"", "%s", strings.Join(never, "\n"))
	}
	return OK("every one of the %d bundled alerts selects existing series", len(alerts))
}

// eventMetrics are metrics that have no series at all until the event they report
// happens, so their absence on a healthy cluster says nothing about a wrong name:
// kube-state-metrics exports kube_job_failed only for a Job that has a Failed
// condition (internal/store/job.go, v2.18.x).
var eventMetrics = []string{"kube_job_failed"}

// withoutEventSeries drops the selectors of eventMetrics from missing.
func withoutEventSeries(missing []string) []string {
	var out []string
	for _, sel := range missing {
		event := false
		for _, m := range eventMetrics {
			if sel == m || strings.HasPrefix(sel, m+"{") {
				event = true
			}
		}
		if !event {
			out = append(out, sel)
		}
	}
	return out
}
