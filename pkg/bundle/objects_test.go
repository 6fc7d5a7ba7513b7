package bundle

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Every built-in object decodes into its Go type with no unknown field: a typo in a
// template (securityContex, conccurencyPolicy) fails here, not at apply time.
func TestBuiltinObjectsHaveNoUnknownFields(t *testing.T) {
	objs, err := Render(everyComponentOn())
	require.NoError(t, err)
	for _, o := range objs {
		if !builtinGroups[o.GroupVersionKind().Group] {
			continue
		}
		t.Run(objectKey(o), func(t *testing.T) {
			typed, err := scheme.Scheme.New(o.GroupVersionKind())
			require.NoError(t, err)
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, typed, true))
		})
	}
}

func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out))
	return out
}

func TestBackupCronJob(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, Backup)
	require.NoError(t, err)
	cj := typed[batchv1.CronJob](t, find(t, objs, "CronJob", s.Backup.CronJob))

	assert.Equal(t, s.Backup.Schedule, cj.Spec.Schedule)
	assert.Equal(t, "30 2 * * 0", cj.Spec.Schedule, "Sundays 02:30, what the runbook meant")
	require.NotNil(t, cj.Spec.TimeZone)
	assert.Equal(t, s.Backup.TimeZone, *cj.Spec.TimeZone)
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	require.NotNil(t, cj.Spec.SuccessfulJobsHistoryLimit)
	require.NotNil(t, cj.Spec.FailedJobsHistoryLimit)
	job := cj.Spec.JobTemplate.Spec
	require.NotNil(t, job.BackoffLimit)
	require.NotNil(t, job.ActiveDeadlineSeconds)
	assert.Positive(t, *job.ActiveDeadlineSeconds)

	pod := job.Template.Spec
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	assert.NotZero(t, *pod.SecurityContext.RunAsUser)
	require.Len(t, pod.InitContainers, 1)
	require.Len(t, pod.Containers, 1)
	assert.Equal(t, s.BackupImage(), pod.InitContainers[0].Image)
	assert.Equal(t, s.Backup.UploadImage, pod.Containers[0].Image)
	assert.Equal(t, []string{"/bin/sh", "/opt/backup/backup.sh", "dump"}, pod.InitContainers[0].Command)
	assert.Equal(t, []string{"/bin/sh", "/opt/backup/backup.sh", "upload"}, pod.Containers[0].Command)

	for _, c := range append(pod.InitContainers, pod.Containers...) {
		t.Run(c.Name, func(t *testing.T) {
			assert.NotContains(t, c.Image, ":latest")
			assert.Contains(t, c.Image, ":", "pinned by tag or digest")
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				assert.Contains(t, c.Resources.Requests, r, "requests %s", r)
			}
			assert.Contains(t, c.Resources.Limits, corev1.ResourceMemory)
			require.NotNil(t, c.SecurityContext)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			assert.NotContains(t, strings.Join(c.Args, " ")+strings.Join(c.Command, " "), "apk", "nothing is installed at run time")
			for _, e := range c.Env {
				if e.Name == "PGPASSWORD" {
					assert.Empty(t, e.Value, "the password comes from its Secret")
					require.NotNil(t, e.ValueFrom)
					assert.Equal(t, s.Backup.PasswordSecret.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		})
	}
	env := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "pi@192.168.1.60:/volume1/k3s-backups/postgres", env["BACKUP_TARGET"])
	assert.Equal(t, "8", env["BACKUP_RETENTION"])
	assert.Contains(t, env["BACKUP_RSYNC_RSH"], "StrictHostKeyChecking=yes")
	assert.Contains(t, env["BACKUP_RSYNC_RSH"], "-p 22")

	cm := find(t, objs, "ConfigMap", s.Backup.CronJob+"-script")
	script, _, _ := unstructured.NestedString(cm.Object, "data", "backup.sh")
	assert.Equal(t, BackupScript(), script, "the CronJob runs the script the tests run")
	restore, _, _ := unstructured.NestedString(cm.Object, "data", "restore.sh")
	assert.Equal(t, RestoreScript(), restore, "the restore and drill Jobs run the script the tests run")
}

func TestImmichMetricsServiceAndServiceMonitor(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, Immich)
	require.NoError(t, err)
	svcObj := find(t, objs, "Service", s.Immich.MetricsService)
	svc := typed[corev1.Service](t, svcObj)
	assert.Equal(t, s.Immich.PodSelector, svc.Spec.Selector)
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		assert.Empty(t, validation.IsValidPortName(p.Name), "port name %q", p.Name)
		ports[p.Name] = p.Port
	}
	assert.ElementsMatch(t, []int32{8081, 8082}, []int32{ports["api-metrics"], ports["worker-metrics"]})

	sm := find(t, objs, "ServiceMonitor", s.Immich.MetricsService)
	matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	require.NotEmpty(t, matchLabels)
	assert.True(t, labels.SelectorFromSet(matchLabels).Matches(labels.Set(svcObj.GetLabels())), "the ServiceMonitor selects the Service by its labels")
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	require.Len(t, endpoints, 2)
	for _, e := range endpoints {
		port, ok := e.(map[string]any)["port"].(string)
		require.True(t, ok, "endpoints name their port (a number is refused by the CRD)")
		assert.Contains(t, ports, port)
	}
	namespaces, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	assert.Equal(t, []string{s.Namespaces.Immich}, namespaces)
}

func TestGrafanaDashboard(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, Immich)
	require.NoError(t, err)
	cm := find(t, objs, "ConfigMap", "immich-dashboard")
	assert.Equal(t, "1", cm.GetLabels()["grafana_dashboard"])
	assert.Equal(t, s.Namespaces.Monitoring, cm.GetNamespace(), "where Grafana's sidecar looks")
	text, _, _ := unstructured.NestedString(cm.Object, "data", "immich.json")
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal([]byte(text), &dash), "valid JSON")
	assert.NotEmpty(t, dash.UID)
	var exprs []string
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	m := s.Immich.Metrics
	for _, metric := range []string{m.ThumbnailQueue, m.VideoQueue, m.MetadataQueue, m.ThumbnailSuccess, m.ThumbnailFailed, m.RequestDuration + "_bucket", "kube_cronjob_status_last_successful_time"} {
		assert.Contains(t, all, metric, "queues, job rates, API latency and backup age")
	}
}

func TestOperatorRoleIsLeastPrivilege(t *testing.T) {
	s := settings.Default()
	objs, err := Render(s, RBAC)
	require.NoError(t, err)
	writes := map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}
	for _, o := range objs {
		var rules []rbacv1.PolicyRule
		switch o.GetKind() {
		case "ClusterRole":
			rules = typed[rbacv1.ClusterRole](t, o).Rules
			for _, r := range rules {
				for _, v := range r.Verbs {
					assert.False(t, writes[v], "the ClusterRole only reads; writes are namespaced (%v)", r)
				}
			}
		case "Role":
			rules = typed[rbacv1.Role](t, o).Rules
		default:
			continue
		}
		for _, r := range rules {
			for _, x := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
				assert.NotEqual(t, "*", x, "no wildcards: %v", r)
			}
			for _, res := range r.Resources {
				switch res {
				case "secrets":
					assert.Equal(t, []string{s.Monitoring.DiscordSecret.Name}, r.ResourceNames, "only the webhook Secret, by name")
					assert.Equal(t, []string{"get"}, r.Verbs)
					assert.Equal(t, s.Namespaces.Monitoring, o.GetNamespace())
				case "deployments/scale":
					assert.Equal(t, s.Immich.Deployments, r.ResourceNames)
					assert.Equal(t, s.Namespaces.Immich, o.GetNamespace())
				case "services/proxy":
					assert.ElementsMatch(t, []string{"prometheus-operated", "prometheus-operated:web", "alertmanager-operated", "alertmanager-operated:web"}, r.ResourceNames)
				case "jobs":
					if writesIn(r.Verbs, writes) {
						assert.Equal(t, s.Namespaces.Backup, o.GetNamespace(), "Jobs are created in the backup namespace only")
					}
				}
			}
		}
	}
	crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "picluster-operator"))
	assert.Equal(t, "picluster-operator", crb.RoleRef.Name)
	assert.ElementsMatch(t, []rbacv1.Subject{
		{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: s.RBAC.Group},
		{Kind: rbacv1.ServiceAccountKind, Name: s.RBAC.ServiceAccount, Namespace: s.Namespaces.Monitoring},
	}, crb.Subjects)
	for _, ns := range []string{s.Namespaces.Monitoring, s.Namespaces.Backup, s.Namespaces.Immich} {
		rb := typed[rbacv1.RoleBinding](t, findIn(t, objs, "RoleBinding", ns, "picluster-operator"))
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "picluster-operator"}, rb.RoleRef)
		assert.Equal(t, crb.Subjects, rb.Subjects)
	}
}

func writesIn(verbs []string, writes map[string]bool) bool {
	for _, v := range verbs {
		if writes[v] {
			return true
		}
	}
	return false
}

func findIn(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	require.Failf(t, "object not rendered", "%s %s/%s", kind, namespace, name)
	return nil
}
