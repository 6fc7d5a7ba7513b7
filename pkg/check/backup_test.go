package check

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func TestEvaluateCronJob(t *testing.T) {
	cj := func(suspend bool) *batchv1.CronJob {
		return &batchv1.CronJob{
			Spec:   batchv1.CronJobSpec{Schedule: "30 2 * * 0", TimeZone: ptr.To("Etc/UTC"), Suspend: ptr.To(suspend)},
			Status: batchv1.CronJobStatus{LastScheduleTime: &metav1.Time{Time: now.Add(-3 * time.Hour)}},
		}
	}
	tests := map[string]struct {
		cj   *batchv1.CronJob
		err  error
		want verdict
	}{
		"runs":      {cj: cj(false), want: verdict{StatusOK, "", `runs on "30 2 * * 0" (Etc/UTC), last scheduled 3h ago`}},
		"suspended": {cj: cj(true), want: verdict{StatusFailure, RunbookBackupStale, "is suspended"}},
		"missing":   {err: notFound("cronjobs", "postgres-backup"), want: verdict{StatusFailure, RunbookBackupStale, "does not exist"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateCronJob("backup-jobs", "postgres-backup", tc.cj, tc.err, now))
		})
	}
}

func TestEvaluateLastSuccess(t *testing.T) {
	week := 8 * 24 * time.Hour
	tests := map[string]struct {
		in   LastSuccessInput
		want verdict
	}{
		"recent status":      {in: LastSuccessInput{StatusTime: now.Add(-2 * time.Hour)}, want: verdict{StatusOK, "", "is 2h old (from CronJob status)"}},
		"recent metric":      {in: LastSuccessInput{StatusTime: now.Add(-10 * 24 * time.Hour), MetricTime: now.Add(-time.Hour)}, want: verdict{StatusOK, "", "1h old (from kube_cronjob_status_last_successful_time)"}},
		"stale":              {in: LastSuccessInput{StatusTime: now.Add(-9 * 24 * time.Hour), MetricTime: now.Add(-10 * 24 * time.Hour)}, want: verdict{StatusFailure, RunbookBackupStale, "is 9d old (stale after 8d, from CronJob status)"}},
		"never":              {in: LastSuccessInput{}, want: verdict{StatusFailure, RunbookBackupStale, "has ever succeeded"}},
		"no cronjob, metric": {in: LastSuccessInput{StatusErr: errors.New("forbidden"), MetricTime: now.Add(-time.Hour)}, want: verdict{StatusOK, "", "1h old"}},
		"no cronjob at all":  {in: LastSuccessInput{StatusErr: errors.New("refused")}, want: verdict{StatusFailure, RunbookBackupStale, "read CronJob backup-jobs/postgres-backup: refused"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := tc.in
			in.Namespace, in.Name, in.StaleAfter, in.Now = "backup-jobs", "postgres-backup", week, now
			assertVerdict(t, tc.want, EvaluateLastSuccess(in))
		})
	}
}

func TestEvaluateLastJob(t *testing.T) {
	job := func(name string, created time.Duration, owner string, cond batchv1.JobConditionType) batchv1.Job {
		j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{
			Name: name, CreationTimestamp: metav1.Time{Time: now.Add(-created)},
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: owner}},
		}}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: metav1.Time{Time: now.Add(-created + time.Minute)}}}
		}
		return j
	}
	tests := map[string]struct {
		jobs []batchv1.Job
		err  error
		want verdict
	}{
		"last succeeded": {jobs: []batchv1.Job{job("b-1", 48*time.Hour, "postgres-backup", batchv1.JobFailed), job("b-2", 3*time.Hour, "postgres-backup", batchv1.JobComplete)}, want: verdict{StatusOK, "", "b-2 succeeded 2h ago"}},
		"last failed":    {jobs: []batchv1.Job{job("b-1", 48*time.Hour, "postgres-backup", batchv1.JobComplete), job("b-2", 3*time.Hour, "postgres-backup", batchv1.JobFailed)}, want: verdict{StatusFailure, RunbookBackupJobFailed, "b-2 failed (BackoffLimitExceeded)"}},
		"running":        {jobs: []batchv1.Job{job("b-3", time.Minute, "postgres-backup", "")}, want: verdict{StatusOK, "", "b-3 is running"}},
		"other owners":   {jobs: []batchv1.Job{job("x", time.Minute, "other", batchv1.JobFailed)}, want: verdict{StatusWarning, RunbookBackupJobFailed, "has no Job"}},
		"error":          {err: errors.New("boom"), want: verdict{StatusFailure, RunbookBackupJobFailed, "list the Jobs in backup-jobs: boom"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateLastJob("backup-jobs", "postgres-backup", tc.jobs, tc.err, now))
		})
	}
}

func TestEvaluateExternalSecrets(t *testing.T) {
	es := func(name, ready, reason, refreshed string) ExternalSecretAnswer {
		return ExternalSecretAnswer{Namespace: "monitoring", Name: name, Object: obj(map[string]any{
			"spec": map[string]any{"refreshInterval": "1h0m0s"},
			"status": map[string]any{
				"refreshTime": refreshed,
				"conditions":  []any{map[string]any{"type": "Ready", "status": ready, "reason": reason, "message": "could not get secret data from provider"}},
			},
		})}
	}
	fresh := now.Add(-10 * time.Minute).Format(time.RFC3339)
	old := now.Add(-5 * time.Hour).Format(time.RFC3339)
	tests := map[string]struct {
		answers []ExternalSecretAnswer
		want    verdict
	}{
		"all synced": {answers: []ExternalSecretAnswer{es("a", "True", "SecretSynced", fresh), es("b", "True", "SecretSynced", fresh)}, want: verdict{StatusOK, "", "all 2 ExternalSecrets are Ready"}},
		"not ready":  {answers: []ExternalSecretAnswer{es("a", "True", "SecretSynced", fresh), es("b", "False", "SecretSyncedError", fresh)}, want: verdict{StatusFailure, "", "monitoring/b is not Ready (SecretSyncedError): could not get secret data from provider"}},
		"stale sync": {answers: []ExternalSecretAnswer{es("a", "True", "SecretSynced", old)}, want: verdict{StatusWarning, "", "monitoring/a last synced 5h ago (it refreshes every 1h0m0s)"}},
		"missing":    {answers: []ExternalSecretAnswer{{Namespace: "monitoring", Name: "a", Err: notFound("externalsecrets", "a")}}, want: verdict{StatusFailure, "", "monitoring/a does not exist"}},
		"no status":  {answers: []ExternalSecretAnswer{{Namespace: "monitoring", Name: "a", Object: obj(map[string]any{})}}, want: verdict{StatusFailure, "", "has no Ready condition"}},
	}
	stores := settings.Default().ExternalSecrets
	stores.RefreshInterval = settings.Duration(time.Hour)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assertVerdict(t, tc.want, EvaluateExternalSecrets(tc.answers, stores, StoreAnswer{}, now))
		})
	}
}

// A failed sync says which remoteRef form the store expects: read from the store's
// provider when the store can be read, else both forms.
func TestEvaluateExternalSecretsSaysTheStoresForm(t *testing.T) {
	failed := []ExternalSecretAnswer{{Namespace: "backup-jobs", Name: "db", Object: obj(map[string]any{
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider"}}},
	})}}
	sdk := settings.Default().ExternalSecrets
	connect := sdk
	connect.Provider = settings.ProviderOnePasswordConnect
	store := func(provider string) StoreAnswer {
		return StoreAnswer{Kind: "ClusterSecretStore", Name: "onepassword", Provider: provider}
	}
	tests := map[string]struct {
		es    settings.ExternalSecrets
		store StoreAnswer
		hint  []string
	}{
		"bundle for the SDK, store on Connect": {es: sdk, store: store("onepassword"),
			hint: []string{"uses the onepassword provider, which expects key: <item> and property: <field>", "set externalSecrets.provider: onepassword"}},
		"bundle for Connect, store on the SDK": {es: connect, store: store("onepasswordSDK"),
			hint: []string{"uses the onepasswordSDK provider, which expects key: <item>/[<section>/]<field> (it ignores property)", "set externalSecrets.provider: onepasswordSDK"}},
		"same provider": {es: sdk, store: store("onepasswordSDK"),
			hint: []string{"(onepasswordSDK provider) expects key: <item>/[<section>/]<field>", "exist in 1Password"}},
		"store unreadable": {es: sdk, store: StoreAnswer{Kind: "ClusterSecretStore", Name: "onepassword", Err: errors.New("forbidden")},
			hint: []string{"for the onepasswordSDK provider (key: <item>/[<section>/]<field>", "the onepassword provider expects key: <item> and property: <field>"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := EvaluateExternalSecrets(failed, tc.es, tc.store, now)
			assert.Equal(t, StatusFailure, r.Status)
			for _, h := range tc.hint {
				assert.Contains(t, r.Hint, h)
			}
		})
	}
}

func TestEvaluatePermissions(t *testing.T) {
	a := Access{Verb: "get", Resource: "services", Namespace: "immich"}
	b := Access{Verb: "list", Group: "batch", Resource: "jobs", Namespace: "backup-jobs"}
	p := Access{Verb: "get", Resource: "services", Subresource: "proxy", Namespace: "monitoring"}
	assertVerdict(t, verdict{StatusOK, "", "all 2 permissions"}, EvaluatePermissions([]AccessAnswer{{Access: a, Allowed: true}, {Access: b, Allowed: true}}))
	assertVerdict(t, verdict{StatusFailure, "", "2 of 3 permissions the checks need are missing: get services/proxy in monitoring; list jobs.batch in backup-jobs"},
		EvaluatePermissions([]AccessAnswer{{Access: a, Allowed: true}, {Access: b}, {Access: p}}))
	assertVerdict(t, verdict{StatusFailure, "", "refused"}, EvaluatePermissions([]AccessAnswer{{Access: a, Err: errors.New("refused")}}))
}

func TestEvaluateCRDs(t *testing.T) {
	sm := schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	hr := schema.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"}
	kinds := []schema.GroupVersionKind{hr, sm}
	served := map[schema.GroupVersion]*GroupVersionAnswer{
		sm.GroupVersion(): {Kinds: map[string]bool{"ServiceMonitor": true}},
		hr.GroupVersion(): {Kinds: map[string]bool{"HelmRelease": true}},
	}
	assertVerdict(t, verdict{StatusOK, "", "all 2 custom resource kinds are served"}, EvaluateCRDs(kinds, served))
	noFlux := map[schema.GroupVersion]*GroupVersionAnswer{
		sm.GroupVersion(): {Kinds: map[string]bool{"ServiceMonitor": true}},
		hr.GroupVersion(): {Err: notFound("", "helm.toolkit.fluxcd.io/v2")},
	}
	assertVerdict(t, verdict{StatusFailure, "", "does not serve HelmRelease.helm.toolkit.fluxcd.io/v2"}, EvaluateCRDs(kinds, noFlux))
	noKind := map[schema.GroupVersion]*GroupVersionAnswer{
		sm.GroupVersion(): {Kinds: map[string]bool{"PodMonitor": true}},
		hr.GroupVersion(): {Kinds: map[string]bool{"HelmRelease": true}},
	}
	assertVerdict(t, verdict{StatusFailure, "", "ServiceMonitor.monitoring.coreos.com/v1"}, EvaluateCRDs(kinds, noKind))
}

func TestRequiredKindsFromTheBundle(t *testing.T) {
	e := &Env{Bundle: []*unstructured.Unstructured{
		obj(map[string]any{"apiVersion": "v1", "kind": "Service"}),
		obj(map[string]any{"apiVersion": "batch/v1", "kind": "CronJob"}),
		obj(map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"}),
		obj(map[string]any{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret"}),
	}}
	var names []string
	for _, k := range e.RequiredKinds() {
		names = append(names, k.Kind)
	}
	assert.Equal(t, []string{"ExternalSecret", "Alertmanager", "Prometheus"}, names)
}
