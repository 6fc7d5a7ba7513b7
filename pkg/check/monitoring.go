package check

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	ammodels "github.com/prometheus/alertmanager/api/v2/models"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func monitoringChecks(e *Env) []Check {
	return []Check{
		{Category: CategoryMonitoring, Name: "crds", Run: e.checkCRDs},
		{Category: CategoryMonitoring, Name: "helmrelease", Run: e.checkHelmRelease},
		{Category: CategoryMonitoring, Name: "prometheus", Run: e.checkPrometheus},
		{Category: CategoryMonitoring, Name: "alertmanager", Run: e.checkAlertmanager},
	}
}

// kubePrometheusKinds are the custom kinds kube-prometheus-stack itself runs on.
func kubePrometheusKinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PrometheusesKind),
		monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.AlertmanagersKind),
	}
}

// RequiredKinds lists the custom kinds the setup needs: those of the bundle's
// objects and those kube-prometheus-stack runs on, sorted.
func (e *Env) RequiredKinds() []schema.GroupVersionKind {
	seen := map[schema.GroupVersionKind]bool{}
	for _, k := range kubePrometheusKinds() {
		seen[k] = true
	}
	for _, o := range e.Bundle {
		gvk := o.GroupVersionKind()
		if strings.Contains(gvk.Group, ".") && !strings.HasSuffix(gvk.Group, ".k8s.io") {
			seen[gvk] = true
		}
	}
	out := make([]schema.GroupVersionKind, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// GroupVersionAnswer is what discovery said about one group-version: the kinds it
// serves, or the error.
type GroupVersionAnswer struct {
	Kinds map[string]bool
	Err   error
}

func (e *Env) checkCRDs(ctx context.Context) Result {
	kinds := e.RequiredKinds()
	answers := map[schema.GroupVersion]*GroupVersionAnswer{}
	for _, k := range kinds {
		answers[k.GroupVersion()] = &GroupVersionAnswer{}
	}
	var wg sync.WaitGroup
	for gv, a := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := e.Kube.Discovery().RESTClient().Get().AbsPath("/apis", gv.Group, gv.Version).Do(ctx).Raw()
			if err != nil {
				a.Err = err
				return
			}
			var list metav1.APIResourceList
			if err := json.Unmarshal(raw, &list); err != nil {
				a.Err = fmt.Errorf("decode discovery of %s: %w", gv, err)
				return
			}
			a.Kinds = map[string]bool{}
			for _, r := range list.APIResources {
				a.Kinds[r.Kind] = true
			}
		}()
	}
	wg.Wait()
	return EvaluateCRDs(kinds, answers)
}

// EvaluateCRDs judges discovery's answers: every required kind must be served.
func EvaluateCRDs(kinds []schema.GroupVersionKind, answers map[schema.GroupVersion]*GroupVersionAnswer) Result {
	var missing []string
	for _, k := range kinds {
		a := answers[k.GroupVersion()]
		switch {
		case a == nil || apierrors.IsNotFound(a.Err):
			missing = append(missing, k.Kind+"."+k.GroupVersion().String())
		case a.Err != nil:
			return Errored(a.Err, hintAPIServer, "", "discover the API group %s", k.GroupVersion())
		case !a.Kinds[k.Kind]:
			missing = append(missing, k.Kind+"."+k.GroupVersion().String())
		}
	}
	if len(missing) > 0 {
		return Fail("install the operators that own them (kube-prometheus-stack, Flux, External Secrets), then kubectl picluster install",
			"", "the API server does not serve %s", strings.Join(missing, ", "))
	}
	return OK("all %d custom resource kinds are served", len(kinds))
}

func (e *Env) checkHelmRelease(ctx context.Context) Result {
	ns, name := e.Settings.Namespaces.Monitoring, e.Settings.Monitoring.HelmRelease
	hr, err := e.Dynamic.Resource(HelmReleases()).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	return EvaluateHelmRelease(ns, name, hr, err)
}

// EvaluateHelmRelease judges the kube-prometheus-stack HelmRelease the way
// `flux get helmrelease` does: Ready must be True for the current generation.
func EvaluateHelmRelease(ns, name string, hr *unstructured.Unstructured, err error) Result {
	hint := fmt.Sprintf("flux get helmrelease -n %s %s; kubectl -n %s describe helmrelease %s", ns, name, ns, name)
	if apierrors.IsNotFound(err) {
		return Fail("kubectl picluster install", "", "HelmRelease %s/%s does not exist", ns, name)
	}
	if err != nil {
		return Errored(err, hint, "", "read HelmRelease %s/%s", ns, name)
	}
	if suspended, _, _ := unstructured.NestedBool(hr.Object, "spec", "suspend"); suspended {
		return Warn("flux resume helmrelease -n "+ns+" "+name, "", "HelmRelease %s/%s is suspended: Flux does not reconcile it", ns, name)
	}
	ready, found := condition(hr, "Ready")
	switch {
	case !found:
		return Warn(hint, "", "HelmRelease %s/%s has no Ready condition yet: helm-controller has not reconciled it", ns, name)
	case ready.Status == "True":
		if observed, ok, _ := unstructured.NestedInt64(hr.Object, "status", "observedGeneration"); ok && observed < hr.GetGeneration() {
			return Warn(hint, "", "HelmRelease %s/%s is being reconciled (generation %d, last ready %d)", ns, name, hr.GetGeneration(), observed)
		}
		return OK("HelmRelease %s/%s is Ready: %s", ns, name, ready.Message)
	case ready.Status == "Unknown":
		return Warn(hint, "", "HelmRelease %s/%s is reconciling: %s", ns, name, ready.Message)
	}
	return Fail(hint, "", "HelmRelease %s/%s is not Ready (%s): %s", ns, name, ready.Reason, ready.Message)
}

// Condition is one status condition of a custom object.
type Condition struct {
	Type, Status, Reason, Message string
	LastTransitionTime            string
}

// condition finds a status condition of an unstructured object.
func condition(obj *unstructured.Unstructured, typ string) (Condition, bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != typ {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		return Condition{Type: typ, Status: str("status"), Reason: str("reason"), Message: str("message"), LastTransitionTime: str("lastTransitionTime")}, true
	}
	return Condition{}, false
}

func (e *Env) checkPrometheus(ctx context.Context) Result {
	c, err := e.promClient()
	var v string
	if err == nil {
		v, err = c.Version(ctx)
	}
	return EvaluateServer("Prometheus", e.prometheusVia(), v, err, e.hintServer("prometheus"))
}

func (e *Env) checkAlertmanager(ctx context.Context) Result {
	st, err := e.AlertmanagerStatus(ctx)
	var v string
	if err == nil && st.VersionInfo != nil && st.VersionInfo.Version != nil {
		v = *st.VersionInfo.Version
	}
	res := EvaluateServer("Alertmanager", e.alertmanagerVia(), v, err, e.hintServer("alertmanager"))
	if res.Status == StatusOK && st != nil {
		return Worst(res, evaluateAlertmanagerCluster(st.Cluster))
	}
	return res
}

func (e *Env) hintServer(app string) string {
	return fmt.Sprintf("kubectl -n %s get pods -l app.kubernetes.io/name=%s; or reach it directly with --%s-url",
		e.Settings.Namespaces.Monitoring, app, app)
}

// EvaluateServer judges whether Prometheus or Alertmanager answered.
func EvaluateServer(name, via, version string, err error, hint string) Result {
	if err != nil {
		return Errored(err, hint, "", "%s does not answer", name)
	}
	if via != "" {
		return OK("%s %s answers (%s)", name, version, via)
	}
	return OK("%s %s answers", name, version)
}

// evaluateAlertmanagerCluster warns about a cluster that has not settled: it holds
// notifications back until gossip settles.
func evaluateAlertmanagerCluster(c *ammodels.ClusterStatus) Result {
	if c == nil || c.Status == nil || *c.Status == "disabled" || *c.Status == "ready" {
		return Result{Status: StatusOK}
	}
	return Warn("wait a minute and check again", "", "Alertmanager's cluster is %s: notifications wait until it settles", *c.Status)
}
