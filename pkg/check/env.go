package check

import (
	"context"
	"fmt"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	ammodels "github.com/prometheus/alertmanager/api/v2/models"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// HelmReleases is the resource of Flux's HelmRelease kind.
func HelmReleases() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
}

// ServiceMonitors is the resource of prometheus-operator's ServiceMonitor kind.
func ServiceMonitors() schema.GroupVersionResource {
	return monitoringv1.SchemeGroupVersion.WithResource(monitoringv1.ServiceMonitorName)
}

// PrometheusRules is the resource of prometheus-operator's PrometheusRule kind.
func PrometheusRules() schema.GroupVersionResource {
	return monitoringv1.SchemeGroupVersion.WithResource(monitoringv1.PrometheusRuleName)
}

// ExternalSecrets is the resource of External Secrets Operator's ExternalSecret kind.
func ExternalSecrets() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}
}

// SecretStores is the resource of ESO's namespaced store kind; the check reads one only to
// tell which provider (and so which remoteRef form) it has when a sync fails.
func SecretStores() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "secretstores"}
}

// ClusterSecretStores is the resource of ESO's cluster-wide store kind (see SecretStores).
func ClusterSecretStores() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "clustersecretstores"}
}

// Env is what the checks gather from: settings, clients, and the bundle install
// renders from the same settings (the objects the checks expect). Answers that
// several checks need are fetched once per Env; build a new Env for each run.
type Env struct {
	Settings *settings.Settings
	Kube     kubernetes.Interface
	Dynamic  dynamic.Interface
	// Prometheus and Alertmanager are nil when they could not be set up; their
	// Err fields then say why, and the checks that need them fail with it.
	Prometheus      *prometheus.Client
	PrometheusErr   error
	Alertmanager    *alertmanager.Client
	AlertmanagerErr error
	// Bundle is what `install` renders from Settings.
	Bundle []*unstructured.Unstructured
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SeriesWindow is how far back alert selectors look for series.
	SeriesWindow time.Duration

	targets  memo[[]prometheus.Target]
	rules    memo[[]prometheus.RuleGroup]
	amStatus memo[*ammodels.AlertmanagerStatus]
	monitor  memo[*monitoringv1.ServiceMonitor]
	cronJob  memo[*batchv1.CronJob]
	jobs     memo[[]batchv1.Job]
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// memo runs a fetch once and hands every caller its answer.
type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(f func() (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = f() })
	return m.v, m.err
}

// connected returns a client, or why there is none.
func connected[T any](c *T, err error, name string) (*T, error) {
	if c != nil {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no %s connection", name)
}

// promClient returns the Prometheus client or why there is none.
func (e *Env) promClient() (*prometheus.Client, error) {
	return connected(e.Prometheus, e.PrometheusErr, "Prometheus")
}

// Targets returns Prometheus's active targets, fetched once.
func (e *Env) Targets(ctx context.Context) ([]prometheus.Target, error) {
	return e.targets.get(func() ([]prometheus.Target, error) {
		c, err := e.promClient()
		if err != nil {
			return nil, err
		}
		return c.ActiveTargets(ctx)
	})
}

// Rules returns Prometheus's loaded rule groups, fetched once.
func (e *Env) Rules(ctx context.Context) ([]prometheus.RuleGroup, error) {
	return e.rules.get(func() ([]prometheus.RuleGroup, error) {
		c, err := e.promClient()
		if err != nil {
			return nil, err
		}
		return c.Rules(ctx)
	})
}

// amClient returns the Alertmanager client or why there is none.
func (e *Env) amClient() (*alertmanager.Client, error) {
	return connected(e.Alertmanager, e.AlertmanagerErr, "Alertmanager")
}

// AlertmanagerStatus returns Alertmanager's status (version and config), fetched once.
func (e *Env) AlertmanagerStatus(ctx context.Context) (*ammodels.AlertmanagerStatus, error) {
	return e.amStatus.get(func() (*ammodels.AlertmanagerStatus, error) {
		c, err := e.amClient()
		if err != nil {
			return nil, err
		}
		return c.Status(ctx)
	})
}

// AlertmanagerAlerts returns Alertmanager's alerts matching the filter (active,
// silenced and inhibited ones included).
func (e *Env) AlertmanagerAlerts(ctx context.Context, filter ...string) (ammodels.GettableAlerts, error) {
	c, err := e.amClient()
	if err != nil {
		return nil, err
	}
	return c.Alerts(ctx, filter)
}

// serviceProxy tells whether Prometheus or Alertmanager is reached through the
// API server's service proxy: the permissions check then asks for services/proxy.
func (e *Env) serviceProxy() bool {
	return (e.Prometheus != nil && e.Prometheus.Endpoint.ServiceProxy) ||
		(e.Alertmanager != nil && e.Alertmanager.Endpoint().ServiceProxy)
}

// prometheusVia and alertmanagerVia describe how the servers are reached, for messages.
func (e *Env) prometheusVia() string {
	if e.Prometheus == nil {
		return ""
	}
	return e.Prometheus.Endpoint.Via
}

func (e *Env) alertmanagerVia() string {
	if e.Alertmanager == nil {
		return ""
	}
	return e.Alertmanager.Via()
}

// ServiceMonitor returns the live Immich ServiceMonitor, fetched once.
func (e *Env) ServiceMonitor(ctx context.Context) (*monitoringv1.ServiceMonitor, error) {
	return e.monitor.get(func() (*monitoringv1.ServiceMonitor, error) {
		ns, name := e.serviceMonitorRef()
		u, err := e.Dynamic.Resource(ServiceMonitors()).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get ServiceMonitor %s/%s: %w", ns, name, err)
		}
		return ServiceMonitorFrom(u)
	})
}

// ServiceMonitorFrom converts an object read with the dynamic client to
// prometheus-operator's type.
func ServiceMonitorFrom(u *unstructured.Unstructured) (*monitoringv1.ServiceMonitor, error) {
	sm := &monitoringv1.ServiceMonitor{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, sm); err != nil {
		return nil, fmt.Errorf("read ServiceMonitor %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return sm, nil
}

// serviceMonitorRef names the bundle's ServiceMonitor (the metrics Service's name
// in the Immich namespace when the bundle has none).
func (e *Env) serviceMonitorRef() (string, string) {
	for _, o := range e.bundled(monitoringv1.SchemeGroupVersion.Group, monitoringv1.ServiceMonitorsKind) {
		return o.GetNamespace(), o.GetName()
	}
	return e.Settings.Namespaces.Immich, e.Settings.Immich.MetricsService
}

// bundled returns the bundle's objects of a kind.
func (e *Env) bundled(group, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range e.Bundle {
		gvk := o.GroupVersionKind()
		if gvk.Group == group && gvk.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}
