package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/pkg/check"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

const roleESO = "External Secrets"

// vault stands in for 1Password: each remote item (key, property) gets a throwaway
// random value the first time it is asked for, and keeps it while the bed runs. The
// Discord webhook item holds a URL of the local Discord stand-in instead, so that
// Alertmanager never talks to the real Discord. No value is ever printed.
type vault struct {
	mu    sync.Mutex
	items map[string]string
	// discordKey and discordProperty name the webhook item as the bundle's
	// ExternalSecret does, in its provider's form.
	discordKey, discordProperty string
	sink                        *discordSink
	es                          settings.ExternalSecrets
}

func newVault(s *settings.Settings, sink *discordSink) *vault {
	key, property := s.ExternalSecrets.RemoteRefFields(s.ExternalSecrets.DiscordWebhook)
	return &vault{items: map[string]string{}, discordKey: key, discordProperty: property, sink: sink, es: s.ExternalSecrets}
}

// preset gives an item a real value (the bed's database password, the NAS's key).
func (v *vault) preset(ref settings.RemoteRef, value string) {
	key, property := v.es.RemoteRefFields(ref)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.items[key+"\x00"+property] = value
}

// value returns the item's value, made up on first use.
func (v *vault) value(key, property string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := key + "\x00" + property
	if val, ok := v.items[id]; ok {
		return val, nil
	}
	var val string
	if key == v.discordKey && property == v.discordProperty {
		val = v.sink.newWebhookURL()
	} else {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("make a throwaway value: %w", err)
		}
		val = base64.RawURLEncoding.EncodeToString(b)
	}
	v.items[id] = val
	return val, nil
}

// externalSecretSpec is the part of an ExternalSecret the stand-in honours.
type externalSecretSpec struct {
	RefreshInterval string `json:"refreshInterval"`
	Target          struct {
		Name string `json:"name"`
	} `json:"target"`
	Data []struct {
		SecretKey string `json:"secretKey"`
		RemoteRef struct {
			Key      string `json:"key"`
			Property string `json:"property"`
		} `json:"remoteRef"`
	} `json:"data"`
}

// playExternalSecrets does what External Secrets does for every ExternalSecret: write
// its target Secret (owned by it) from the store, then mark it Ready with the time of
// the refresh. A Secret already holding the store's values is left alone; a Ready
// ExternalSecret is refreshed again after its refreshInterval.
func (si *standIns) playExternalSecrets(ctx context.Context, log *passLog) error {
	list, err := si.dyn.Resource(check.ExternalSecrets()).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ExternalSecrets: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return ref(&list.Items[i]) < ref(&list.Items[j]) })
	for i := range list.Items {
		if err := si.syncExternalSecret(ctx, log, &list.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

func (si *standIns) syncExternalSecret(ctx context.Context, log *passLog, es *unstructured.Unstructured) error {
	var spec externalSecretSpec
	raw, _, _ := unstructured.NestedMap(es.Object, "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
		return fmt.Errorf("read ExternalSecret %s: %w", ref(es), err)
	}
	target := spec.Target.Name
	if target == "" {
		target = es.GetName()
	}
	want := map[string][]byte{}
	for _, d := range spec.Data {
		val, err := si.vault.value(d.RemoteRef.Key, d.RemoteRef.Property)
		if err != nil {
			return err
		}
		want[d.SecretKey] = []byte(val)
	}
	changed, err := si.writeTargetSecret(ctx, es, target, want)
	if err != nil {
		return err
	}
	interval := time.Hour
	if d, err := time.ParseDuration(spec.RefreshInterval); err == nil {
		interval = d
	}
	cond, ready := readyCondition(es)
	refreshed, _, _ := unstructured.NestedString(es.Object, "status", "refreshTime")
	last, _ := time.Parse(time.RFC3339, refreshed)
	due := interval > 0 && time.Since(last) >= interval
	if !changed && ready && !due {
		log.saw(roleESO, "ExternalSecret %s Ready, Secret %s/%s in sync (refreshed %s ago)", ref(es), es.GetNamespace(), target, time.Since(last).Round(time.Second))
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	transition := now
	if ready && cond["lastTransitionTime"] != nil {
		transition, _ = cond["lastTransitionTime"].(string)
	}
	es.Object["status"] = map[string]any{
		"refreshTime":           now,
		"syncedResourceVersion": fmt.Sprintf("%d-standin", es.GetGeneration()),
		"binding":               map[string]any{"name": target},
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "SecretSynced",
			"message": "secret synced (by the stand-in in hack/localcluster, from its stand-in vault)", "lastTransitionTime": transition,
		}},
	}
	if _, err := si.dyn.Resource(check.ExternalSecrets()).Namespace(es.GetNamespace()).UpdateStatus(ctx, es, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of ExternalSecret %s: %w", ref(es), err)
	}
	what := "refreshed"
	if changed {
		what = fmt.Sprintf("wrote Secret %s/%s (%s from the stand-in vault, never shown)", es.GetNamespace(), target, plural(len(want), "key"))
	}
	log.did(roleESO, "ExternalSecret %s Ready: %s", ref(es), what)
	return nil
}

// writeTargetSecret creates or updates the Secret so that it holds exactly want,
// owned by the ExternalSecret (creationPolicy Owner). It reports whether it wrote.
func (si *standIns) writeTargetSecret(ctx context.Context, es *unstructured.Unstructured, name string, want map[string][]byte) (bool, error) {
	secrets := si.kube.CoreV1().Secrets(es.GetNamespace())
	owner := metav1.OwnerReference{
		APIVersion: es.GetAPIVersion(), Kind: es.GetKind(), Name: es.GetName(), UID: types.UID(es.GetUID()),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
	cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: es.GetNamespace(), OwnerReferences: []metav1.OwnerReference{owner},
				Labels: map[string]string{"reconcile.external-secrets.io/managed": "true"},
			},
			Type: corev1.SecretTypeOpaque,
			Data: want,
		}
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return false, fmt.Errorf("create Secret %s/%s: %w", es.GetNamespace(), name, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read Secret %s/%s: %w", es.GetNamespace(), name, err)
	}
	if sameData(cur.Data, want) {
		return false, nil
	}
	cur.Data = want
	if len(cur.OwnerReferences) == 0 {
		cur.OwnerReferences = []metav1.OwnerReference{owner}
	}
	if _, err := secrets.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("update Secret %s/%s: %w", es.GetNamespace(), name, err)
	}
	return true, nil
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if string(a[k]) != string(v) {
			return false
		}
	}
	return true
}

// readyCondition returns the Ready condition of an object and whether it is True.
func readyCondition(u *unstructured.Unstructured) (map[string]any, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Ready" {
			return m, m["status"] == "True"
		}
	}
	return nil, false
}

// plural writes "1 key", "2 keys".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ref is namespace/name of an object.
func ref(u metav1.Object) string { return u.GetNamespace() + "/" + u.GetName() }
