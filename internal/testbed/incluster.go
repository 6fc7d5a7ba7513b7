package testbed

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names of the in-cluster servers, as kube-prometheus-stack (Flux HelmRelease
// "kube-prometheus-stack" in "monitoring") and the Immich chart (release "immich" in
// "immich") name them on the real cluster.
const (
	MonitoringNamespace      = "monitoring"
	PrometheusService        = "prometheus-operated"   // headless, port "web" 9090
	AlertmanagerService      = "alertmanager-operated" // headless, port "web" 9093
	PrometheusName           = "kube-prometheus-stack-prometheus"
	AlertmanagerName         = "kube-prometheus-stack-alertmanager"
	ImmichNamespace          = "immich"
	PostgresService          = "immich-postgresql" // port "tcp-postgresql" 5432
	postgresUser             = "postgres"
	postgresDatabase         = "immich"
	componentPrometheus      = "prometheus"
	componentAlertmanager    = "alertmanager"
	componentPostgres        = "postgres"
	prometheusOperatorManage = "prometheus-operator"
)

// inClusterServer is where one real server sits and how the cluster fronts it.
type inClusterServer struct {
	Namespace   string
	StatefulSet string
	Pod         string
	Container   string
	Image       string
	PortName    string
	Port        int
	IP          string
	Labels      map[string]string
	// Services front the pod: the first is the governing (headless) one.
	Services []*corev1.Service
	// Owner is a monitoring.coreos.com custom resource that owns the StatefulSet, if any.
	Owner *unstructured.Unstructured
}

// monitoringLayout is deterministic per slot, so kwok's port-forward config can name the
// targets before the servers run.
func (c *Cluster) monitoringLayout() map[string]inClusterServer {
	promLabels := map[string]string{
		"app.kubernetes.io/instance":   PrometheusName,
		"app.kubernetes.io/managed-by": prometheusOperatorManage,
		"app.kubernetes.io/name":       "prometheus",
		"operator.prometheus.io/name":  PrometheusName,
		"operator.prometheus.io/shard": "0",
		"prometheus":                   PrometheusName,
	}
	amLabels := map[string]string{
		"alertmanager":                 AlertmanagerName,
		"app.kubernetes.io/instance":   AlertmanagerName,
		"app.kubernetes.io/managed-by": prometheusOperatorManage,
		"app.kubernetes.io/name":       "alertmanager",
	}
	pgLabels := map[string]string{
		"app.kubernetes.io/component": "primary",
		"app.kubernetes.io/instance":  "immich",
		"app.kubernetes.io/name":      "postgresql",
	}
	return map[string]inClusterServer{
		componentPrometheus: {
			Namespace: MonitoringNamespace, StatefulSet: "prometheus-" + PrometheusName,
			Pod: "prometheus-" + PrometheusName + "-0", Container: "prometheus",
			Image: "quay.io/prometheus/prometheus:v2.42.0", PortName: "web", Port: 9090,
			IP: c.slot.Addr(2), Labels: promLabels,
			Services: []*corev1.Service{
				service(MonitoringNamespace, PrometheusService, true, map[string]string{"operated-prometheus": "true"},
					map[string]string{"app.kubernetes.io/name": "prometheus"}, "web", 9090, "web"),
				service(MonitoringNamespace, PrometheusName, false, map[string]string{"app": "kube-prometheus-stack-prometheus", "release": "kube-prometheus-stack"},
					map[string]string{"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": PrometheusName}, "http-web", 9090, "9090"),
			},
			Owner: monitoringCR("Prometheus", PrometheusName),
		},
		componentAlertmanager: {
			Namespace: MonitoringNamespace, StatefulSet: "alertmanager-" + AlertmanagerName,
			Pod: "alertmanager-" + AlertmanagerName + "-0", Container: "alertmanager",
			Image: "quay.io/prometheus/alertmanager:v0.25.0", PortName: "web", Port: 9093,
			IP: c.slot.Addr(3), Labels: amLabels,
			Services: []*corev1.Service{
				service(MonitoringNamespace, AlertmanagerService, true, map[string]string{"operated-alertmanager": "true"},
					map[string]string{"app.kubernetes.io/name": "alertmanager"}, "web", 9093, "web"),
				service(MonitoringNamespace, AlertmanagerName, false, map[string]string{"app": "kube-prometheus-stack-alertmanager", "release": "kube-prometheus-stack"},
					map[string]string{"app.kubernetes.io/name": "alertmanager", "alertmanager": AlertmanagerName}, "http-web", 9093, "9093"),
			},
			Owner: monitoringCR("Alertmanager", AlertmanagerName),
		},
		componentPostgres: {
			Namespace: ImmichNamespace, StatefulSet: PostgresService, Pod: PostgresService + "-0",
			Container: "postgresql", Image: "docker.io/tensorchord/pgvecto-rs:pg15-v0.2.0",
			PortName: "tcp-postgresql", Port: 5432, IP: c.slot.Addr(4), Labels: pgLabels,
			Services: []*corev1.Service{
				service(ImmichNamespace, PostgresService+"-hl", true, nil, pgLabels, "tcp-postgresql", 5432, "tcp-postgresql"),
				service(ImmichNamespace, PostgresService, false, nil, pgLabels, "tcp-postgresql", 5432, "tcp-postgresql"),
			},
		},
	}
}

func service(ns, name string, headless bool, labels, selector map[string]string, portName string, port int, target string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports: []corev1.ServicePort{{
				Name: portName, Port: int32(port), Protocol: corev1.ProtocolTCP, TargetPort: intstr.Parse(target),
			}},
		},
	}
	if headless {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return s
}

func monitoringCR(kind, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": MonitoringNamespace},
		"spec":       map[string]any{"replicas": int64(1)},
	}}
}

// createInCluster creates the namespace, owner resource, StatefulSet (its pod pinned to the
// server's address) and Services of one server.
func (c *Cluster) createInCluster(ctx context.Context, s inClusterServer) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", s.Namespace, err)
	}
	var owners []metav1.OwnerReference
	if s.Owner != nil {
		gvr := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: map[string]string{
			"Prometheus": "prometheuses", "Alertmanager": "alertmanagers"}[s.Owner.GetKind()]}
		owner, err := c.Dynamic.Resource(gvr).Namespace(s.Namespace).Create(ctx, s.Owner, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create %s %s/%s: %w", s.Owner.GetKind(), s.Namespace, s.Owner.GetName(), err)
		}
		owners = []metav1.OwnerReference{{
			APIVersion: "monitoring.coreos.com/v1", Kind: owner.GetKind(), Name: owner.GetName(),
			UID: types.UID(owner.GetUID()), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}
	}
	for _, svc := range s.Services {
		if _, err := c.Client.CoreV1().Services(s.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s/%s: %w", s.Namespace, svc.Name, err)
		}
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.StatefulSet, Labels: s.Labels, OwnerReferences: owners},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: s.Services[0].Name,
			Selector:    &metav1.LabelSelector{MatchLabels: s.Labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(s.Labels), Annotations: map[string]string{PodIPAnnotation: s.IP}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: s.Container, Image: s.Image,
						Ports: []corev1.ContainerPort{{Name: s.PortName, ContainerPort: int32(s.Port), Protocol: corev1.ProtocolTCP}},
					}},
				},
			},
		},
	}
	if _, err := c.Client.AppsV1().StatefulSets(s.Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create statefulset %s/%s: %w", s.Namespace, s.StatefulSet, err)
	}
	return nil
}

// podReadyAt tells whether the server's pod is Ready with its pinned address.
func (c *Cluster) podReadyAt(ctx context.Context, s inClusterServer) (bool, error) {
	pod, err := c.Client.CoreV1().Pods(s.Namespace).Get(ctx, s.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get pod %s/%s: %w", s.Namespace, s.Pod, err)
	}
	if pod.Status.PodIP != "" && pod.Status.PodIP != s.IP {
		return false, fmt.Errorf("pod %s/%s got IP %s instead of the pinned %s", s.Namespace, s.Pod, pod.Status.PodIP, s.IP)
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return pod.Status.PodIP == s.IP, nil
		}
	}
	return false, nil
}
