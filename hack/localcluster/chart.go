package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/check"
)

// The few objects of the kube-prometheus-stack chart that the bed needs beyond the
// servers pkg/testbed fronts. Labels as the chart sets them, so selectors match.
//
// One deliberate difference: the chart's Watchdog has no `for`. Prometheus forgets
// its Alertmanagers for up to 5 s after every reload and drops what it sends
// meanwhile, and it sends a firing alert again only after its resend delay (1 min),
// so a Watchdog that fires at once after the stand-in's reload reaches Alertmanager
// a minute late. Pending for 10 s first, its first notification finds Alertmanager.
const chartObjectsYAML = `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{release}}-general.rules
  namespace: {{ns}}
  labels: {app: {{release}}, release: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  groups:
  - name: general.rules
    rules:
    - alert: Watchdog
      expr: vector(1)
      for: 10s
      labels: {severity: none}
      annotations:
        summary: An alert that should always be firing to certify that Alertmanager is working properly.
        runbook_url: https://runbooks.prometheus-operator.dev/runbooks/general/watchdog
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{release}}-prometheus
  namespace: {{ns}}
  labels: {app: {{release}}-prometheus, release: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  namespaceSelector: {matchNames: [{{ns}}]}
  selector: {matchLabels: {app: {{release}}-prometheus, release: {{release}}}}
  endpoints: [{port: http-web, path: /metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{release}}-alertmanager
  namespace: {{ns}}
  labels: {app: {{release}}-alertmanager, release: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  namespaceSelector: {matchNames: [{{ns}}]}
  selector: {matchLabels: {app: {{release}}-alertmanager, release: {{release}}}}
  endpoints: [{port: http-web, path: /metrics}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{release}}-kube-state-metrics
  namespace: {{ns}}
  labels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}, release: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  selector: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}}
  ports: [{name: http, port: 8080, targetPort: http, protocol: TCP}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{release}}-kube-state-metrics
  namespace: {{ns}}
  labels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}}
      annotations: {"{{podIPAnnotation}}": "{{ksmIP}}"}
    spec:
      containers:
      - name: kube-state-metrics
        image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0
        ports: [{name: http, containerPort: 8080, protocol: TCP}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{release}}-kube-state-metrics
  namespace: {{ns}}
  labels: {app.kubernetes.io/name: kube-state-metrics, release: {{release}}, app.kubernetes.io/managed-by: Helm}
spec:
  jobLabel: app.kubernetes.io/name
  namespaceSelector: {matchNames: [{{ns}}]}
  selector: {matchLabels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/instance: {{release}}}}
  endpoints: [{port: http, honorLabels: true}]
`

// resources maps the kinds the stand-ins apply to their resources.
var resources = map[string]schema.GroupVersionResource{
	"Deployment":     {Group: "apps", Version: "v1", Resource: "deployments"},
	"Service":        {Version: "v1", Resource: "services"},
	"ServiceMonitor": check.ServiceMonitors(),
	"PrometheusRule": check.PrometheusRules(),
}

// decodeObjects reads a multi-document YAML after replacing {{key}} placeholders.
func decodeObjects(text string, vars map[string]string) ([]*unstructured.Unstructured, error) {
	for k, v := range vars {
		text = strings.ReplaceAll(text, "{{"+k+"}}", v)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(text, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, fmt.Errorf("decode stand-in object: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// applyChartObjects applies the chart's objects, owned by the HelmRelease so that
// deleting it (uninstall) removes them as Helm's uninstall would.
func (si *standIns) applyChartObjects(ctx context.Context, log *passLog, hr *unstructured.Unstructured) error {
	objs, err := decodeObjects(chartObjectsYAML, map[string]string{
		"release": hr.GetName(), "ns": hr.GetNamespace(), "ksmIP": si.ksmIP, "podIPAnnotation": testbed.PodIPAnnotation,
	})
	if err != nil {
		return err
	}
	owner := metav1.OwnerReference{APIVersion: hr.GetAPIVersion(), Kind: hr.GetKind(), Name: hr.GetName(), UID: types.UID(hr.GetUID())}
	if err := si.applyAll(ctx, log, roleHelm, "chart object", objs, &owner); err != nil {
		return err
	}
	return si.waitAvailable(ctx, hr.GetNamespace(), hr.GetName()+"-kube-state-metrics")
}

// applyAll applies objects server-side (field manager helm-controller, as Flux uses)
// when they are missing or differ from what the stand-in last applied, and logs which
// it created or changed. Like helm-controller without drift detection (Flux's
// default), it leaves alone what others changed since: `kubectl scale` of a
// Deployment, for one, stays.
func (si *standIns) applyAll(ctx context.Context, log *passLog, role, what string, objs []*unstructured.Unstructured, owner *metav1.OwnerReference) error {
	unchanged := 0
	for _, o := range objs {
		gvr, ok := resources[o.GetKind()]
		if !ok {
			return fmt.Errorf("apply %s %s: kind unknown to the stand-ins", o.GetKind(), ref(o))
		}
		if owner != nil {
			o.SetOwnerReferences([]metav1.OwnerReference{*owner})
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", o.GetKind(), ref(o), err)
		}
		key := o.GetKind() + "/" + ref(o)
		res := si.dyn.Resource(gvr).Namespace(o.GetNamespace())
		cur, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case err == nil && si.applied[key] == string(data):
			unchanged++
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("read %s %s: %w", o.GetKind(), ref(o), err)
		}
		force := true
		after, err := res.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "helm-controller", Force: &force})
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), ref(o), err)
		}
		si.applied[key] = string(data)
		switch {
		case cur == nil:
			log.did(role, "%s %s %s created", what, o.GetKind(), ref(o))
		case cur.GetResourceVersion() != after.GetResourceVersion():
			log.did(role, "%s %s %s configured", what, o.GetKind(), ref(o))
		default:
			unchanged++
		}
	}
	if unchanged > 0 {
		log.saw(role, "%s unchanged", plural(unchanged, what))
	}
	return nil
}

// waitAvailable waits (at most a minute) until a Deployment has all its replicas
// available: kwok runs the pods, the Deployment controller counts them.
func (si *standIns) waitAvailable(ctx context.Context, ns, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last *appsv1.Deployment
	err := proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		d, err := si.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == want && d.Status.UpdatedReplicas == want, nil
	})
	if err != nil {
		state := "not found"
		if last != nil {
			state = fmt.Sprintf("%d of %d available", last.Status.AvailableReplicas, ptrOr(last.Spec.Replicas, 1))
		}
		return fmt.Errorf("wait for Deployment %s/%s (%s): %w", ns, name, state, err)
	}
	return nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
