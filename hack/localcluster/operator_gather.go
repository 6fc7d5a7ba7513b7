package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/check"
)

const roleOperator = "prometheus-operator"

// The bed's clock: kube-prometheus-stack scrapes and evaluates every 30 s by default;
// the bed does every 2 s so that the demo settles in seconds. Intervals a
// ServiceMonitor sets itself are kept.
const (
	bedScrapeInterval     = "2s"
	bedEvaluationInterval = "2s"
)

// playPrometheusOperator does what prometheus-operator does for the Prometheus object
// the chart rendered (the ServiceMonitors and PrometheusRules its selectors pick): one scrape pool per ServiceMonitor endpoint, one rule file per
// PrometheusRule, alerts to the chart's Alertmanager; it reloads the bed's Prometheus
// when that changed.
func (si *standIns) playPrometheusOperator(ctx context.Context, log *passLog) error {
	// A pass someone asked for waits for pods that are not ready yet; the background
	// loop takes what is there and comes back in a few seconds.
	gather := si.gatherPoolsWaiting
	if log.quiet {
		gather = si.gatherPools
	}
	pools, err := gather(ctx)
	if err != nil {
		return err
	}
	ams, err := si.serviceTargets(ctx, testbed.MonitoringNamespace, testbed.AlertmanagerName, "http-web")
	if err != nil {
		return err
	}
	var amAddrs []string
	for _, t := range ams {
		amAddrs = append(amAddrs, t.Address)
	}
	config, err := renderPrometheusConfig(prometheusSetup{
		ScrapeInterval: bedScrapeInterval, EvaluationInterval: bedEvaluationInterval,
		ExternalLabels: map[string]string{
			"prometheus":         testbed.MonitoringNamespace + "/" + testbed.PrometheusName,
			"prometheus_replica": "prometheus-" + testbed.PrometheusName + "-0",
		},
		Alertmanagers: amAddrs,
		Pools:         pools,
	})
	if err != nil {
		return err
	}
	rules, ruleNames, err := si.gatherRuleFiles(ctx)
	if err != nil {
		return err
	}
	parts := []string{config}
	for _, name := range sortedKeys(rules) {
		parts = append(parts, name, rules[name])
	}
	loaded := hashOf(parts...)
	if loaded == si.promLoaded {
		log.saw(roleOperator, "Prometheus runs %d scrape pools and %d rule files, as the ServiceMonitors and PrometheusRules say", len(pools), len(rules))
		return nil
	}
	if err := si.mon.Prometheus.Reload(ctx, config, rules); err != nil {
		return fmt.Errorf("load the generated config into Prometheus: %w", err)
	}
	si.promLoaded = loaded
	log.did(roleOperator, "Prometheus reloaded: scrape pools %s", describePools(pools))
	rulesFrom := "none (no PrometheusRule)"
	if len(ruleNames) > 0 {
		rulesFrom = "of PrometheusRules " + joinAnd(ruleNames)
	}
	log.did(roleOperator, "Prometheus reloaded: rules %s; alerts to Alertmanager %s", rulesFrom, strings.Join(amAddrs, ", "))
	return nil
}

// gatherPoolsWaiting gathers the scrape pools, waiting up to 15 s for pools without
// targets (pods that are not ready yet) before taking them as they are.
func (si *standIns) gatherPoolsWaiting(ctx context.Context) ([]scrapePool, error) {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var pools []scrapePool
	var gatherErr error
	_ = proc.WaitFor(wctx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		pools, gatherErr = si.gatherPools(ctx)
		if gatherErr != nil {
			return false, gatherErr
		}
		for _, p := range pools {
			if len(p.Targets) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if gatherErr != nil {
		return nil, gatherErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return pools, nil
}

// gatherPools resolves every ServiceMonitor to its scrape pools.
func (si *standIns) gatherPools(ctx context.Context) ([]scrapePool, error) {
	list, err := si.dyn.Resource(check.ServiceMonitors()).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ServiceMonitors: %w", err)
	}
	var pools []scrapePool
	for i := range list.Items {
		sm := &list.Items[i]
		if ok, err := si.selects(ctx, sm); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		typed, err := check.ServiceMonitorFrom(sm)
		if err != nil {
			return nil, err
		}
		spec := &typed.Spec
		sel, err := metav1.LabelSelectorAsSelector(&spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("ServiceMonitor %s selector: %w", ref(sm), err)
		}
		namespaces := spec.NamespaceSelector.MatchNames
		switch {
		case spec.NamespaceSelector.Any:
			namespaces = []string{metav1.NamespaceAll}
		case len(namespaces) == 0:
			namespaces = []string{sm.GetNamespace()}
		}
		var services []corev1.Service
		for _, ns := range namespaces {
			svcs, err := si.kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return nil, fmt.Errorf("list the Services of ServiceMonitor %s: %w", ref(sm), err)
			}
			services = append(services, svcs.Items...)
		}
		for idx, ep := range spec.Endpoints {
			pool := scrapePool{
				Name: check.ScrapePoolPrefix(sm.GetNamespace(), sm.GetName()) + strconv.Itoa(idx),
				Path: ep.Path, Interval: string(ep.Interval), Timeout: string(ep.ScrapeTimeout), HonorLabels: ep.HonorLabels,
			}
			for _, svc := range services {
				targets, err := si.serviceTargets(ctx, svc.Namespace, svc.Name, ep.Port)
				if err != nil {
					return nil, err
				}
				job := svc.Name
				if v := svc.Labels[spec.JobLabel]; spec.JobLabel != "" && v != "" {
					job = v
				}
				for i := range targets {
					targets[i].Labels["job"] = job
				}
				pool.Targets = append(pool.Targets, targets...)
			}
			if ep.Scheme != nil {
				pool.Scheme = string(*ep.Scheme)
			}
			pools = append(pools, pool)
		}
	}
	return pools, nil
}

// serviceTargets lists a Service's endpoint addresses on the named port, with the
// labels prometheus-operator gives them (job defaults to the Service's name).
func (si *standIns) serviceTargets(ctx context.Context, ns, service, port string) ([]scrapeTarget, error) {
	slices, err := si.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, fmt.Errorf("list the EndpointSlices of Service %s/%s: %w", ns, service, err)
	}
	var out []scrapeTarget
	for _, s := range slices.Items {
		var number int32
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == port && p.Port != nil {
				number = *p.Port
			}
		}
		if number == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			for _, addr := range ep.Addresses {
				labels := map[string]string{"namespace": ns, "service": service, "endpoint": port, "job": service}
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					labels["pod"] = ep.TargetRef.Name
				}
				out = append(out, scrapeTarget{Address: net.JoinHostPort(addr, strconv.Itoa(int(number))), Labels: labels})
			}
		}
	}
	return out, nil
}

// gatherRuleFiles makes one rule file per PrometheusRule.
func (si *standIns) gatherRuleFiles(ctx context.Context) (map[string]string, []string, error) {
	list, err := si.dyn.Resource(check.PrometheusRules()).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list PrometheusRules: %w", err)
	}
	files := map[string]string{}
	var names []string
	for i := range list.Items {
		pr := &list.Items[i]
		if ok, err := si.selects(ctx, pr); err != nil || !ok {
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		var typed monitoringv1.PrometheusRule
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(pr.Object, &typed); err != nil {
			return nil, nil, fmt.Errorf("read PrometheusRule %s: %w", ref(pr), err)
		}
		content, err := renderRuleFile(typed.Spec.Groups)
		if err != nil {
			return nil, nil, fmt.Errorf("PrometheusRule %s: %w", ref(pr), err)
		}
		files[ruleFileName(pr.GetNamespace(), pr.GetName(), string(pr.GetUID()))] = content
		names = append(names, ref(pr))
	}
	sort.Strings(names)
	return files, names, nil
}

// selects tells whether the chart's Prometheus object picks obj, by its selectors and
// namespace selectors as prometheus-operator reads them. Before any release there is no
// Prometheus object, but the bed's Prometheus runs all the same (pkg/testbed starts
// it): it then gets every object.
func (si *standIns) selects(ctx context.Context, obj *unstructured.Unstructured) (bool, error) {
	if si.prometheus == nil {
		return true, nil
	}
	ns, err := si.kube.CoreV1().Namespaces().Get(ctx, obj.GetNamespace(), metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read namespace %s of %s %s: %w", obj.GetNamespace(), obj.GetKind(), ref(obj), err)
	}
	return chartrender.Selects(si.prometheus, obj, ns.Labels)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
