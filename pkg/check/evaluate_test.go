package check

import (
	"errors"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	ammodels "github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func obj(content map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: content}
}

func notFound(kind, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: kind}, name)
}

// verdict is what the tables compare: status, runbook and a part of the message.
type verdict struct {
	status  Status
	runbook string
	msg     string
}

func assertVerdict(t *testing.T, want verdict, got Result) {
	t.Helper()
	assert.Equal(t, want.status, got.Status, got.Message)
	assert.Equal(t, want.runbook, got.Runbook)
	assert.Contains(t, got.Message, want.msg)
	if got.Status != StatusOK {
		assert.NotEmpty(t, got.Hint+got.Runbook, "a warning or failure says what to do")
	}
}

func TestEvaluateHelmRelease(t *testing.T) {
	hr := func(gen, observed int64, suspend bool, conds ...map[string]any) *unstructured.Unstructured {
		c := make([]any, len(conds))
		for i := range conds {
			c[i] = conds[i]
		}
		return obj(map[string]any{
			"metadata": map[string]any{"generation": gen},
			"spec":     map[string]any{"suspend": suspend},
			"status":   map[string]any{"observedGeneration": observed, "conditions": c},
		})
	}
	ready := map[string]any{"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "Helm install succeeded"}
	tests := map[string]struct {
		hr   *unstructured.Unstructured
		err  error
		want verdict
	}{
		"ready":          {hr: hr(2, 2, false, ready), want: verdict{StatusOK, "", "is Ready: Helm install succeeded"}},
		"missing":        {err: notFound("helmreleases", "kps"), want: verdict{StatusFailure, "", "does not exist"}},
		"forbidden":      {err: apierrors.NewForbidden(schema.GroupResource{Resource: "helmreleases"}, "kps", errors.New("no")), want: verdict{StatusFailure, "", "forbidden"}},
		"suspended":      {hr: hr(1, 1, true, ready), want: verdict{StatusWarning, "", "suspended"}},
		"not reconciled": {hr: hr(1, 0, false), want: verdict{StatusWarning, "", "no Ready condition"}},
		"old generation": {hr: hr(3, 2, false, ready), want: verdict{StatusWarning, "", "being reconciled"}},
		"failed": {
			hr:   hr(1, 1, false, map[string]any{"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "context deadline exceeded"}),
			want: verdict{StatusFailure, "", "not Ready (InstallFailed): context deadline exceeded"},
		},
		"progressing": {
			hr:   hr(1, 1, false, map[string]any{"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "installing"}),
			want: verdict{StatusWarning, "", "reconciling: installing"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateHelmRelease("monitoring", "kps", tc.hr, tc.err))
		})
	}
}

func metricsService(labels map[string]string, ports ...string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "immich", Name: "immich-metrics", Labels: labels}}
	svc.Spec.Selector = map[string]string{"app": "immich"}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p})
	}
	return svc
}

func TestEvaluateMetricsService(t *testing.T) {
	slice := func(ready ...bool) []discoveryv1.EndpointSlice {
		var eps []discoveryv1.Endpoint
		for _, r := range ready {
			eps = append(eps, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}})
		}
		return []discoveryv1.EndpointSlice{{Endpoints: eps}}
	}
	svc := metricsService(nil, "api-metrics")
	tests := map[string]struct {
		eps  []discoveryv1.EndpointSlice
		err  error
		want verdict
	}{
		"ready endpoints": {eps: slice(true, false), want: verdict{StatusOK, "", "1 ready endpoint"}},
		"none ready":      {eps: slice(false), want: verdict{StatusFailure, RunbookImmichServerDown, "no ready endpoints (1 not ready): no ready pod matches app=immich"}},
		"no slices":       {want: verdict{StatusFailure, RunbookImmichServerDown, "no ready endpoints"}},
		"missing":         {err: notFound("services", "immich-metrics"), want: verdict{StatusFailure, RunbookImmichTargetMissing, "does not exist"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateMetricsService("immich", "immich-metrics", svc, tc.eps, tc.err))
		})
	}
}

func TestEvaluateServiceMonitor(t *testing.T) {
	sm := func(selector map[string]any, nsSel map[string]any, ports ...string) *monitoringv1.ServiceMonitor {
		var eps []any
		for _, p := range ports {
			eps = append(eps, map[string]any{"port": p})
		}
		m, err := ServiceMonitorFrom(obj(map[string]any{"spec": map[string]any{
			"selector": map[string]any{"matchLabels": selector}, "namespaceSelector": nsSel, "endpoints": eps,
		}}))
		require.NoError(t, err)
		return m
	}
	labels := map[string]string{"app.kubernetes.io/name": "immich-metrics"}
	good := map[string]any{"app.kubernetes.io/name": "immich-metrics"}
	svc := metricsService(labels, "api-metrics", "worker-metrics")
	tests := map[string]struct {
		sm   *monitoringv1.ServiceMonitor
		err  error
		want verdict
	}{
		"matches":           {sm: sm(good, map[string]any{"matchNames": []any{"immich"}}, "api-metrics", "worker-metrics"), want: verdict{StatusOK, "", "selects Service immich/immich-metrics on 2 ports"}},
		"any namespace":     {sm: sm(good, map[string]any{"any": true}, "api-metrics"), want: verdict{StatusOK, "", "on 1 port"}},
		"own namespace":     {sm: sm(good, nil, "api-metrics"), want: verdict{StatusOK, "", "selects"}},
		"selector mismatch": {sm: sm(map[string]any{"app.kubernetes.io/name": "immich"}, nil, "api-metrics"), want: verdict{StatusFailure, RunbookImmichTargetMissing, "selects app.kubernetes.io/name=immich, but Service immich/immich-metrics has labels app.kubernetes.io/name=immich-metrics"}},
		"other namespace":   {sm: sm(good, map[string]any{"matchNames": []any{"default"}}, "api-metrics"), want: verdict{StatusFailure, RunbookImmichTargetMissing, "looks in namespaces default, not in immich"}},
		"port by number":    {sm: sm(good, nil, "8081"), want: verdict{StatusFailure, RunbookImmichTargetMissing, `scrapes port "8081", but Service immich/immich-metrics has ports api-metrics, worker-metrics`}},
		"no endpoints":      {sm: sm(good, nil), want: verdict{StatusFailure, RunbookImmichTargetMissing, "no endpoints"}},
		"missing":           {err: notFound("servicemonitors", "immich-metrics"), want: verdict{StatusFailure, RunbookImmichTargetMissing, "not found"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateServiceMonitor("immich", "immich-metrics", tc.sm, svc, tc.err))
		})
	}
}

// Targets that are up but export no immich_* series: Immich's telemetry is off, and the
// hint says how to turn it on (and not to scrape it twice).
func TestEvaluateImmichSeries(t *testing.T) {
	up := OK("2 targets of job immich-metrics are up, last scraped 5s ago")
	assertVerdict(t, verdict{StatusOK, "", "up, last scraped 5s ago, 38 immich_* series"}, EvaluateImmichSeries(up, 38, nil))
	r := EvaluateImmichSeries(up, 0, nil)
	assertVerdict(t, verdict{StatusFailure, "", "are up, last scraped 5s ago, but they export no immich_* series"}, r)
	assert.Contains(t, r.Hint, "IMMICH_TELEMETRY_INCLUDE=all")
	assert.Contains(t, r.Hint, "immich.metrics.enabled: false")
	assertVerdict(t, verdict{StatusFailure, "", "ask Prometheus for Immich's series: boom"}, EvaluateImmichSeries(up, 0, errors.New("boom")))
	refused := EvaluateMonitorTargets("immich", "immich-metrics", []prometheus.Target{{
		Job: "immich-metrics", Instance: "10.0.0.7:8081", ScrapePool: ScrapePoolPrefix("immich", "immich-metrics") + "0",
		Health: "down", LastError: `Get "http://10.0.0.7:8081/metrics": dial tcp 10.0.0.7:8081: connect: connection refused`,
	}}, nil, now)
	assert.Contains(t, refused.Hint, "IMMICH_TELEMETRY_INCLUDE=all", "Immich opens its metrics ports only with telemetry on")
}

func TestEvaluateMonitorTargets(t *testing.T) {
	target := func(ep int, health string, scraped time.Duration, lastErr string) prometheus.Target {
		return prometheus.Target{
			Job: "immich-metrics", Instance: "10.0.0.7:808" + string(rune('1'+ep)), ScrapePool: ScrapePoolPrefix("immich", "immich-metrics") + string(rune('0'+ep)),
			Health: health, LastScrape: now.Add(-scraped), LastError: lastErr, ScrapeInterval: 30 * time.Second,
		}
	}
	other := prometheus.Target{Job: "node", ScrapePool: "node", Health: prometheus.HealthDown}
	tests := map[string]struct {
		targets []prometheus.Target
		err     error
		want    verdict
	}{
		"all up":       {targets: []prometheus.Target{target(0, "up", 5*time.Second, ""), target(1, "up", 10*time.Second, ""), other}, want: verdict{StatusOK, "", "2 targets of job immich-metrics are up, last scraped 5s ago"}},
		"none":         {targets: []prometheus.Target{other}, want: verdict{StatusFailure, RunbookImmichTargetMissing, "no target from ServiceMonitor immich/immich-metrics"}},
		"one down":     {targets: []prometheus.Target{target(0, "up", time.Second, ""), target(1, "down", time.Second, "connection refused")}, want: verdict{StatusFailure, RunbookImmichServerDown, "1 of 2 targets of job immich-metrics is down: 10.0.0.7:8082 (connection refused)"}},
		"stale":        {targets: []prometheus.Target{target(0, "up", 5*time.Minute, "")}, want: verdict{StatusFailure, RunbookImmichServerDown, "not scraped recently: 10.0.0.7:8081 (last scraped 5m ago)"}},
		"not yet":      {targets: []prometheus.Target{{ScrapePool: ScrapePoolPrefix("immich", "immich-metrics") + "0", Health: "unknown", Instance: "x"}}, want: verdict{StatusWarning, RunbookImmichServerDown, "1 of 1 target of job  has not been scraped yet: x"}},
		"unreachable":  {err: errors.New("cannot reach Prometheus"), want: verdict{StatusFailure, RunbookImmichServerDown, "list Prometheus targets: cannot reach Prometheus"}},
		"other prefix": {targets: []prometheus.Target{{ScrapePool: "serviceMonitor/immich/immich-metrics-old/0", Health: "up"}}, want: verdict{StatusFailure, RunbookImmichTargetMissing, "no target"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateMonitorTargets("immich", "immich-metrics", tc.targets, tc.err, now))
		})
	}
}

func TestEvaluateRuleGroups(t *testing.T) {
	bundled := []BundledGroup{{Rule: "immich/immich", Name: "immich.availability"}, {Rule: "backup-jobs/postgres-backup", Name: "backup"}}
	group := func(name string, rules ...prometheus.Rule) prometheus.RuleGroup {
		return prometheus.RuleGroup{Name: name, Rules: rules}
	}
	ok := prometheus.Rule{Name: "A", Health: "ok"}
	tests := map[string]struct {
		loaded []prometheus.RuleGroup
		err    error
		want   verdict
	}{
		"all loaded":  {loaded: []prometheus.RuleGroup{group("immich.availability", ok), group("backup", ok), group("general.rules")}, want: verdict{StatusOK, "", "all 2 bundled rule groups are loaded (2 rules, no errors)"}},
		"one missing": {loaded: []prometheus.RuleGroup{group("immich.availability", ok)}, want: verdict{StatusFailure, "", "1 of 2 bundled rule groups is not loaded in Prometheus: backup (from backup-jobs/postgres-backup)"}},
		"rule error": {
			loaded: []prometheus.RuleGroup{group("immich.availability", ok), group("backup", prometheus.Rule{Name: "B", Health: "err", LastError: "many-to-many matching not allowed"})},
			want:   verdict{StatusFailure, "", "backup/B: many-to-many matching not allowed"},
		},
		"unreachable": {err: errors.New("boom"), want: verdict{StatusFailure, "", "list Prometheus rules: boom"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateRuleGroups(bundled, tc.loaded, tc.err))
		})
	}
}

func TestEvaluateAlertSeries(t *testing.T) {
	alerts := []AlertExpr{{Alert: "A"}, {Alert: "B"}}
	tests := map[string]struct {
		series []prometheus.AlertSeries
		want   verdict
	}{
		"all fine": {series: []prometheus.AlertSeries{{NoSeries: prometheus.NoSeries{CanFire: true}}, {NoSeries: prometheus.NoSeries{CanFire: true, Missing: []string{"x"}}}}, want: verdict{StatusOK, "", "every one of the 2 bundled alerts"}},
		"never fires": {
			series: []prometheus.AlertSeries{{NoSeries: prometheus.NoSeries{CanFire: true}}, {NoSeries: prometheus.NoSeries{Missing: []string{`immich_server_thumbnail_queue_size{job="immich-metrics"}`}}}},
			want:   verdict{StatusWarning, "", `B can never fire: immich_server_thumbnail_queue_size{job="immich-metrics"} has no series`},
		},
		// a healthy cluster has no failed Job, so kube-state-metrics exports no kube_job_failed
		"only an event series missing": {
			series: []prometheus.AlertSeries{{NoSeries: prometheus.NoSeries{CanFire: true}}, {NoSeries: prometheus.NoSeries{Missing: []string{`kube_job_failed{condition="true",namespace="backup-jobs"}`}}}},
			want:   verdict{StatusOK, "", "every one of the 2 bundled alerts"},
		},
		"an event series and a wrong name missing": {
			series: []prometheus.AlertSeries{{NoSeries: prometheus.NoSeries{CanFire: true}}, {NoSeries: prometheus.NoSeries{Missing: []string{`kube_job_failed{condition="true"}`, `kube_job_status_strat_time`}}}},
			want:   verdict{StatusWarning, "", "B can never fire: kube_job_status_strat_time has no series"},
		},
		"unparsable": {series: []prometheus.AlertSeries{{ParseErr: errors.New("bad")}, {NoSeries: prometheus.NoSeries{CanFire: true}}}, want: verdict{StatusFailure, "", "A: bad"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateAlertSeries(alerts, tc.series))
		})
	}
}

func TestAlertExprsPreferLoaded(t *testing.T) {
	bundled := []BundledGroup{{Name: "g", Rules: []BundledRule{{Alert: "A", Expr: "a"}, {Record: "r", Expr: "r"}, {Alert: "B", Expr: "b"}}}}
	loaded := []prometheus.RuleGroup{{Name: "g", Rules: []prometheus.Rule{{Name: "A", Kind: prometheus.KindAlert, Query: "a > 0"}}}}
	assert.Equal(t, []AlertExpr{{Group: "g", Alert: "A", Expr: "a > 0"}, {Group: "g", Alert: "B", Expr: "b"}}, AlertExprs(bundled, loaded))
}

func TestEvaluateWatchdog(t *testing.T) {
	alert := func(state string, silencedBy ...string) *ammodels.GettableAlert {
		return &ammodels.GettableAlert{Status: &ammodels.AlertStatus{State: ptr.To(state), SilencedBy: silencedBy}}
	}
	tests := map[string]struct {
		am         ammodels.GettableAlerts
		amErr      error
		promFiring bool
		promErr    error
		want       verdict
	}{
		"firing":              {am: ammodels.GettableAlerts{alert("active")}, want: verdict{StatusOK, "", "Watchdog is firing in Alertmanager"}},
		"silenced":            {am: ammodels.GettableAlerts{alert("suppressed", "abc")}, want: verdict{StatusWarning, "", "silenced or inhibited (by abc)"}},
		"not delivered":       {promFiring: true, want: verdict{StatusFailure, "", "Prometheus fires Watchdog but Alertmanager has not received it"}},
		"absent":              {want: verdict{StatusFailure, "", "not firing in Alertmanager, Prometheus does not fire it either"}},
		"absent, no prom":     {promErr: errors.New("down"), want: verdict{StatusFailure, "", "could not be asked: down"}},
		"alertmanager errors": {amErr: errors.New("refused"), want: verdict{StatusFailure, "", "look for Watchdog in Alertmanager: refused"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateWatchdog(tc.am, tc.amErr, tc.promFiring, tc.promErr))
		})
	}
}

func TestEvaluateDiscordReceiver(t *testing.T) {
	tests := map[string]struct {
		config string
		want   verdict
	}{
		"good": {config: `route: {receiver: discord-alerts, routes: [{receiver: "null"}]}
receivers: [{name: "null"}, {name: discord-alerts, discord_configs: [{send_resolved: true, webhook_url: <secret>}]}]`, want: verdict{StatusOK, "", "sends to Discord with send_resolved"}},
		"default send_resolved": {config: `route: {receiver: "null", routes: [{receiver: discord-alerts}]}
receivers: [{name: discord-alerts, discord_configs: [{webhook_url: <secret>}]}]`, want: verdict{StatusOK, "", "send_resolved"}},
		"send_resolved off": {config: `route: {receiver: discord-alerts}
receivers: [{name: discord-alerts, discord_configs: [{send_resolved: false}]}]`, want: verdict{StatusWarning, "", "send_resolved off"}},
		"not routed": {config: `route: {receiver: "null"}
receivers: [{name: "null"}, {name: discord-alerts, discord_configs: [{}]}]`, want: verdict{StatusWarning, "", "no route sends alerts to it"}},
		"no discord": {config: `route: {receiver: discord-alerts}
receivers: [{name: discord-alerts, webhook_configs: [{url: <secret>}]}]`, want: verdict{StatusFailure, "", "has no discord_configs"}},
		"missing": {config: `route: {receiver: "null"}
receivers: [{name: "null"}]`, want: verdict{StatusFailure, "", "has no receiver discord-alerts (it has: null)"}},
		"garbage": {config: `: :`, want: verdict{StatusFailure, "", "cannot be read"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateDiscordReceiver("discord-alerts", tc.config))
		})
	}
}

func TestEvaluateNotifications(t *testing.T) {
	sample := func(v float64) model.Vector {
		return model.Vector{
			{Metric: model.Metric{"integration": "webhook"}, Value: 5},
			{Metric: model.Metric{"integration": "discord"}, Value: model.SampleValue(v)},
		}
	}
	tests := map[string]struct {
		vec  model.Vector
		err  error
		want verdict
	}{
		"none failed":    {vec: sample(0), want: verdict{StatusOK, "", "no notification to Discord failed in the last 1h"}},
		"failed":         {vec: sample(3), want: verdict{StatusFailure, "", "3 notifications to Discord failed in the last 1h"}},
		"no series":      {want: verdict{StatusWarning, "", "no alertmanager_notifications_failed_total"}},
		"discord unused": {vec: model.Vector{{Metric: model.Metric{"integration": "email"}}}, want: verdict{StatusOK, "", "no notification to Discord failed"}},
		"error":          {err: errors.New("x"), want: verdict{StatusFailure, "", ": x"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateNotifications(tc.vec, tc.err))
		})
	}
}
