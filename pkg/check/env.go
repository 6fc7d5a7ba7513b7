package check

import (
	"context"
	"fmt"
	"sync"
	"time"

	amclient "github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	amgeneral "github.com/prometheus/alertmanager/api/v2/client/general"
	ammodels "github.com/prometheus/alertmanager/api/v2/models"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Resources of the custom kinds the checks read.
var (
	HelmReleases    = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	ServiceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	PrometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
	ExternalSecrets = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}
	// SecretStores and ClusterSecretStores are ESO's stores; the check reads one only to
	// tell which provider (and so which remoteRef form) it has when a sync fails.
	SecretStores        = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "secretstores"}
	ClusterSecretStores = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "clustersecretstores"}
)

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
	Alertmanager    *amclient.AlertmanagerAPI
	AlertmanagerErr error
	// PrometheusVia and AlertmanagerVia describe how they are reached, for messages.
	PrometheusVia   string
	AlertmanagerVia string
	// ServiceProxy is set when Prometheus or Alertmanager is reached through the API
	// server's service proxy: the permissions check then asks for services/proxy.
	ServiceProxy bool
	// Bundle is what `install` renders from Settings.
	Bundle []*unstructured.Unstructured
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SeriesWindow is how far back alert selectors look for series.
	SeriesWindow time.Duration

	targets  memo[[]prometheus.Target]
	rules    memo[[]prometheus.RuleGroup]
	amStatus memo[*ammodels.AlertmanagerStatus]
	monitor  memo[*unstructured.Unstructured]
	cronJob  memo[*batchv1.CronJob]
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

// promClient returns the Prometheus client or why there is none.
func (e *Env) promClient() (*prometheus.Client, error) {
	if e.Prometheus == nil {
		if e.PrometheusErr != nil {
			return nil, e.PrometheusErr
		}
		return nil, fmt.Errorf("no Prometheus connection")
	}
	return e.Prometheus, nil
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

// AlertmanagerStatus returns Alertmanager's status (version and config), fetched once.
func (e *Env) AlertmanagerStatus(ctx context.Context) (*ammodels.AlertmanagerStatus, error) {
	return e.amStatus.get(func() (*ammodels.AlertmanagerStatus, error) {
		if e.Alertmanager == nil {
			if e.AlertmanagerErr != nil {
				return nil, e.AlertmanagerErr
			}
			return nil, fmt.Errorf("no Alertmanager connection")
		}
		ok, err := e.Alertmanager.General.GetStatus(amgeneral.NewGetStatusParamsWithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("ask Alertmanager for its status: %w", err)
		}
		return ok.Payload, nil
	})
}

// AlertmanagerAlerts returns Alertmanager's alerts matching the filter (active,
// silenced and inhibited ones included).
func (e *Env) AlertmanagerAlerts(ctx context.Context, filter ...string) (ammodels.GettableAlerts, error) {
	if e.Alertmanager == nil {
		if e.AlertmanagerErr != nil {
			return nil, e.AlertmanagerErr
		}
		return nil, fmt.Errorf("no Alertmanager connection")
	}
	p := amalert.NewGetAlertsParamsWithContext(ctx).WithFilter(filter)
	ok, err := e.Alertmanager.Alert.GetAlerts(p)
	if err != nil {
		return nil, fmt.Errorf("list Alertmanager alerts: %w", err)
	}
	return ok.Payload, nil
}

// ServiceMonitor returns the live Immich ServiceMonitor, fetched once.
func (e *Env) ServiceMonitor(ctx context.Context) (*unstructured.Unstructured, error) {
	return e.monitor.get(func() (*unstructured.Unstructured, error) {
		ns, name := e.serviceMonitorRef()
		sm, err := e.Dynamic.Resource(ServiceMonitors).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get ServiceMonitor %s/%s: %w", ns, name, err)
		}
		return sm, nil
	})
}

// serviceMonitorRef names the bundle's ServiceMonitor (the metrics Service's name
// in the Immich namespace when the bundle has none).
func (e *Env) serviceMonitorRef() (string, string) {
	for _, o := range e.bundled("monitoring.coreos.com", "ServiceMonitor") {
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
