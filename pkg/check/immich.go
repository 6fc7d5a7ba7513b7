package check

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

// Runbooks the Immich checks point to (the bundle's alerts of the same names).
const (
	RunbookImmichServerDown    = "ImmichServerDown"
	RunbookImmichTargetMissing = "ImmichMetricsTargetMissing"
)

func immichChecks(e *Env) []Check {
	return []Check{
		{Category: CategoryImmich, Name: "metrics-service", Run: e.checkMetricsService},
		{Category: CategoryImmich, Name: "servicemonitor", Run: e.checkServiceMonitor},
		{Category: CategoryImmich, Name: "targets", Run: e.checkImmichTargets},
	}
}

func (e *Env) metricsService(ctx context.Context) (*corev1.Service, error) {
	ns, name := e.Settings.Namespaces.Immich, e.Settings.Immich.MetricsService
	return e.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
}

func (e *Env) checkMetricsService(ctx context.Context) Result {
	ns, name := e.Settings.Namespaces.Immich, e.Settings.Immich.MetricsService
	svc, err := e.metricsService(ctx)
	if err != nil {
		return EvaluateMetricsService(ns, name, nil, nil, err)
	}
	slices, err := e.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return EvaluateMetricsService(ns, name, svc, nil, err)
	}
	return EvaluateMetricsService(ns, name, svc, slices.Items, nil)
}

// EvaluateMetricsService judges the metrics Service: it must exist and have ready endpoints.
func EvaluateMetricsService(ns, name string, svc *corev1.Service, eps []discoveryv1.EndpointSlice, err error) Result {
	if apierrors.IsNotFound(err) {
		return Fail("kubectl picluster install --component immich", RunbookImmichTargetMissing, "Service %s/%s does not exist", ns, name)
	}
	if err != nil {
		return Errored(err, "", RunbookImmichTargetMissing, "read Service %s/%s and its endpoints", ns, name)
	}
	ready, notReady := 0, 0
	for _, s := range eps {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready++
			} else {
				notReady++
			}
		}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	if ready == 0 {
		return Fail(fmt.Sprintf("kubectl -n %s get pods -l '%s'", ns, sel), RunbookImmichServerDown,
			"Service %s/%s has no ready endpoints (%d not ready): no ready pod matches %s", ns, name, notReady, sel)
	}
	return OK("Service %s/%s has %s", ns, name, output.Count(ready, "ready endpoint"))
}

func (e *Env) checkServiceMonitor(ctx context.Context) Result {
	smNS, smName := e.serviceMonitorRef()
	sm, err := e.ServiceMonitor(ctx)
	if err != nil {
		return EvaluateServiceMonitor(smNS, smName, nil, nil, err)
	}
	svc, err := e.metricsService(ctx)
	return EvaluateServiceMonitor(smNS, smName, sm, svc, err)
}

// EvaluateServiceMonitor judges whether the ServiceMonitor really selects the
// metrics Service, in its namespace, on ports the Service has: the link that fails
// silently when a label or port name drifts.
func EvaluateServiceMonitor(ns, name string, sm *monitoringv1.ServiceMonitor, svc *corev1.Service, err error) Result {
	hint := "kubectl picluster install --component immich (restores the bundled ServiceMonitor and Service)"
	if apierrors.IsNotFound(err) {
		return Fail(hint, RunbookImmichTargetMissing, "%s", notFoundMessage(err))
	}
	if err != nil {
		return Errored(err, "", RunbookImmichTargetMissing, "read ServiceMonitor %s/%s and its Service", ns, name)
	}
	spec := &sm.Spec
	if !spec.NamespaceSelector.Any {
		names := spec.NamespaceSelector.MatchNames
		if len(names) == 0 {
			names = []string{ns}
		}
		if !slices.Contains(names, svc.Namespace) {
			return Fail(hint, RunbookImmichTargetMissing, "ServiceMonitor %s/%s looks in namespaces %s, not in %s where Service %s is",
				ns, name, strings.Join(names, ", "), svc.Namespace, svc.Name)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(&spec.Selector)
	if err != nil {
		return Fail(hint, RunbookImmichTargetMissing, "ServiceMonitor %s/%s has an invalid selector: %v", ns, name, err)
	}
	if !sel.Matches(labels.Set(svc.Labels)) {
		return Fail(hint, RunbookImmichTargetMissing, "ServiceMonitor %s/%s selects %s, but Service %s/%s has labels %s: Prometheus scrapes nothing",
			ns, name, sel, svc.Namespace, svc.Name, labels.Set(svc.Labels))
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name)
	}
	if len(spec.Endpoints) == 0 {
		return Fail(hint, RunbookImmichTargetMissing, "ServiceMonitor %s/%s has no endpoints", ns, name)
	}
	for i, ep := range spec.Endpoints {
		if ep.Port == "" && ep.TargetPort != nil {
			continue // scraped by target port, checked by the targets check
		}
		if !slices.Contains(ports, ep.Port) {
			return Fail(hint, RunbookImmichTargetMissing, "ServiceMonitor %s/%s endpoint %d scrapes port %q, but Service %s/%s has ports %s",
				ns, name, i, ep.Port, svc.Namespace, svc.Name, strings.Join(ports, ", "))
		}
	}
	return OK("ServiceMonitor %s/%s selects Service %s/%s on %s", ns, name, svc.Namespace, svc.Name, output.Count(len(spec.Endpoints), "port"))
}

func notFoundMessage(err error) string {
	if st, ok := err.(apierrors.APIStatus); ok {
		return st.Status().Message
	}
	return err.Error()
}

func (e *Env) checkImmichTargets(ctx context.Context) Result {
	ns, name := e.serviceMonitorRef()
	targets, err := e.Targets(ctx)
	up := EvaluateMonitorTargets(ns, name, targets, err, e.now())
	if up.Status != StatusOK {
		return up
	}
	c, err := e.promClient()
	if err != nil {
		return Errored(err, hintPrometheus, "", "ask Prometheus for Immich's series")
	}
	query := fmt.Sprintf(`count({__name__=~"immich_.+", namespace=%q, job=%q})`, e.Settings.Namespaces.Immich, e.Settings.Immich.MetricsService)
	vec, err := c.Vector(ctx, query, e.now())
	series := 0
	if err == nil && len(vec) > 0 {
		series = int(vec[0].Value)
	}
	return EvaluateImmichSeries(up, series, err)
}

// hintImmichTelemetry says how to turn Immich's metrics on (see the README's Immich
// chart values): the bundle's Service scrapes them, so not the chart's own monitor.
const hintImmichTelemetry = "Immich's telemetry is off: set the env IMMICH_TELEMETRY_INCLUDE=all on immich-server " +
	"(immich-charts values: env IMMICH_TELEMETRY_INCLUDE: all, and immich.metrics.enabled: false so it is not scraped twice)"

// EvaluateImmichSeries judges what the Immich targets export once they are up: at
// least one immich_* series, which Immich writes only with its telemetry on.
func EvaluateImmichSeries(up Result, series int, err error) Result {
	switch {
	case err != nil:
		return Errored(err, hintPrometheus, "", "ask Prometheus for Immich's series")
	case series == 0:
		return Fail(hintImmichTelemetry, "", "%s, but they export no immich_* series", strings.TrimSuffix(up.Message, "."))
	}
	return OK("%s, %d immich_* series", up.Message, series)
}

// ScrapePoolPrefix is how prometheus-operator names the scrape pools of a
// ServiceMonitor: serviceMonitor/NAMESPACE/NAME/ENDPOINT-INDEX.
func ScrapePoolPrefix(ns, name string) string {
	return fmt.Sprintf("serviceMonitor/%s/%s/", ns, name)
}

// defaultScrapeInterval is assumed when Prometheus does not report a target's interval.
const defaultScrapeInterval = time.Minute

// EvaluateMonitorTargets judges the targets of the ServiceMonitor: there must be
// some, all up, and scraped within three intervals.
func EvaluateMonitorTargets(ns, name string, all []prometheus.Target, err error, now time.Time) Result {
	if err != nil {
		return Errored(err, "", RunbookImmichServerDown, "list Prometheus targets")
	}
	prefix := ScrapePoolPrefix(ns, name)
	var targets []prometheus.Target
	for _, t := range all {
		if strings.HasPrefix(t.ScrapePool, prefix) {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return Fail("check that Prometheus selects the ServiceMonitor (kube-prometheus-stack's serviceMonitorSelector) and see the servicemonitor check",
			RunbookImmichTargetMissing, "Prometheus has no target from ServiceMonitor %s/%s (no scrape pool %s*)", ns, name, prefix)
	}
	job := targets[0].Job
	hint := fmt.Sprintf("kubectl picluster targets --job '%s'", job)
	var down, stale, unknown []string
	var newest time.Time
	for _, t := range targets {
		interval := t.ScrapeInterval
		if interval <= 0 {
			interval = defaultScrapeInterval
		}
		switch {
		case t.Health == prometheus.HealthDown:
			down = append(down, fmt.Sprintf("%s (%s)", t.Instance, t.LastError))
		case t.Health != prometheus.HealthUp || t.LastScrape.IsZero():
			unknown = append(unknown, t.Instance)
		case now.Sub(t.LastScrape) > 3*interval:
			stale = append(stale, fmt.Sprintf("%s (last scraped %s ago)", t.Instance, age(now, t.LastScrape)))
		}
		if t.LastScrape.After(newest) {
			newest = t.LastScrape
		}
	}
	sort.Strings(down)
	switch {
	case len(down) > 0:
		if strings.Contains(strings.Join(down, " "), "connection refused") {
			// Immich opens its metrics ports only with its telemetry on
			hint += "; if the pod runs but refuses the port: " + hintImmichTelemetry
		}
		return Fail(hint, RunbookImmichServerDown, "%d of %s of job %s %s down: %s", len(down), output.Count(len(targets), "target"), job, output.Are(len(down)), strings.Join(down, "; "))
	case len(stale) > 0:
		return Fail(hint, RunbookImmichServerDown, "%d of %s of job %s not scraped recently: %s", len(stale), output.Count(len(targets), "target"), job+" "+wasWere(len(stale)), strings.Join(stale, "; "))
	case len(unknown) > 0:
		return Warn(hint, RunbookImmichServerDown, "%d of %s of job %s not been scraped yet: %s", len(unknown), output.Count(len(targets), "target"), job+" "+hasHave(len(unknown)), strings.Join(unknown, ", "))
	}
	return OK("%s of job %s %s up, last scraped %s ago", output.Count(len(targets), "target"), job, output.Are(len(targets)), age(now, newest))
}

// age writes how long ago t was, rounded for a person.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
