package check

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func secretsChecks(e *Env) []Check {
	return []Check{
		{Category: CategorySecrets, Name: "externalsecrets", Run: e.checkExternalSecrets},
	}
}

// ExternalSecretAnswer is one bundled ExternalSecret as the cluster has it.
type ExternalSecretAnswer struct {
	Namespace, Name string
	Object          *unstructured.Unstructured
	Err             error
}

func (e *Env) checkExternalSecrets(ctx context.Context) Result {
	bundled := e.bundled(ExternalSecrets().Group, "ExternalSecret")
	answers := make([]ExternalSecretAnswer, len(bundled))
	var wg sync.WaitGroup
	for i, b := range bundled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := ExternalSecretAnswer{Namespace: b.GetNamespace(), Name: b.GetName()}
			a.Object, a.Err = e.Dynamic.Resource(ExternalSecrets()).Namespace(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
			answers[i] = a
		}()
	}
	wg.Wait()
	var store StoreAnswer
	for _, a := range answers {
		if ready, found := condition(a.Object, "Ready"); a.Err == nil && a.Object != nil && (!found || ready.Status != "True") {
			store = e.secretStore(ctx, a.Namespace)
			break
		}
	}
	return EvaluateExternalSecrets(answers, e.Settings.ExternalSecrets, store, e.now())
}

// StoreAnswer is the secret store of the ExternalSecrets as the cluster has it: its
// provider (the one key under spec.provider), or why it could not be read.
type StoreAnswer struct {
	Kind, Name, Provider string
	Err                  error
}

// secretStore reads the store the bundle's ExternalSecrets name (a SecretStore in the
// namespace ns). It is read only when a sync failed, to say which form it expects.
func (e *Env) secretStore(ctx context.Context, ns string) StoreAnswer {
	es := e.Settings.ExternalSecrets
	a := StoreAnswer{Kind: es.StoreKind, Name: es.StoreName}
	var obj *unstructured.Unstructured
	if es.StoreKind == "ClusterSecretStore" {
		obj, a.Err = e.Dynamic.Resource(ClusterSecretStores()).Get(ctx, es.StoreName, metav1.GetOptions{})
	} else {
		obj, a.Err = e.Dynamic.Resource(SecretStores()).Namespace(ns).Get(ctx, es.StoreName, metav1.GetOptions{})
	}
	if a.Err != nil {
		return a
	}
	provider, _, _ := unstructured.NestedMap(obj.Object, "spec", "provider")
	for name := range provider {
		a.Provider = name
	}
	return a
}

// remoteRefForm says how a provider names a 1Password field in a remoteRef.
func remoteRefForm(provider string) string {
	switch provider {
	case settings.ProviderOnePasswordSDK:
		return "key: <item>/[<section>/]<field> (it ignores property)"
	case settings.ProviderOnePasswordConnect:
		return "key: <item> and property: <field>"
	}
	return "its own remoteRef form"
}

// storeHint is the hint for a failed sync: which remoteRef form the store expects,
// and whether the bundle was rendered in another one.
func storeHint(es settings.ExternalSecrets, store StoreAnswer) string {
	ref := fmt.Sprintf("%s %s", store.Kind, store.Name)
	switch {
	case store.Provider != "" && store.Provider != es.Provider:
		return fmt.Sprintf("the %s uses the %s provider, which expects %s, but the bundle was rendered for %s (%s): set externalSecrets.provider: %s and run kubectl picluster install",
			ref, store.Provider, remoteRefForm(store.Provider), es.Provider, remoteRefForm(es.Provider), store.Provider)
	case store.Provider != "":
		return fmt.Sprintf("the %s (%s provider) expects %s: check that the item and field exist in 1Password and the store is Ready (kubectl describe externalsecret -n NAMESPACE NAME)",
			ref, store.Provider, remoteRefForm(store.Provider))
	}
	return fmt.Sprintf("the bundle names fields for the %s provider (%s; externalSecrets.provider); the %s provider expects %s. Check which one the %s uses, and that the item and field exist (kubectl describe externalsecret -n NAMESPACE NAME)",
		es.Provider, remoteRefForm(es.Provider), otherProvider(es.Provider), remoteRefForm(otherProvider(es.Provider)), ref)
}

func otherProvider(p string) string {
	if p == settings.ProviderOnePasswordConnect {
		return settings.ProviderOnePasswordSDK
	}
	return settings.ProviderOnePasswordConnect
}

// EvaluateExternalSecrets judges the ExternalSecrets: each must be Ready and have
// synced within two refresh intervals. It reads their status only, never a value.
// When one is not Ready, the hint says which remoteRef form the store expects.
func EvaluateExternalSecrets(answers []ExternalSecretAnswer, es settings.ExternalSecrets, store StoreAnswer, now time.Time) Result {
	defaultRefresh := es.RefreshInterval.D()
	notReady := false
	if len(answers) == 0 {
		return Warn("", "", "the bundle has no ExternalSecrets to look at")
	}
	var failures, warnings []string
	var firstErr error
	for _, a := range answers {
		ref := a.Namespace + "/" + a.Name
		switch {
		case apierrors.IsNotFound(a.Err):
			failures = append(failures, ref+" does not exist")
			continue
		case a.Err != nil:
			failures = append(failures, fmt.Sprintf("%s cannot be read: %v", ref, a.Err))
			if firstErr == nil {
				firstErr = a.Err
			}
			continue
		}
		ready, found := condition(a.Object, "Ready")
		switch {
		case !found:
			failures = append(failures, ref+" has no Ready condition: External Secrets has not reconciled it")
			continue
		case ready.Status != "True":
			failures = append(failures, fmt.Sprintf("%s is not Ready (%s): %s", ref, ready.Reason, ready.Message))
			notReady = true
			continue
		}
		interval := defaultRefresh
		if s, ok, _ := unstructured.NestedString(a.Object.Object, "spec", "refreshInterval"); ok {
			if d, err := time.ParseDuration(s); err == nil {
				interval = d
			}
		}
		refreshed, _, _ := unstructured.NestedString(a.Object.Object, "status", "refreshTime")
		t, err := time.Parse(time.RFC3339, refreshed)
		switch {
		case interval <= 0:
			// refreshInterval 0 syncs once: nothing can be late.
		case err != nil:
			warnings = append(warnings, ref+" is Ready but has never recorded a refresh")
		case now.Sub(t) > 2*interval:
			warnings = append(warnings, fmt.Sprintf("%s last synced %s ago (it refreshes every %s)", ref, age(now, t), interval))
		}
	}
	sort.Strings(failures)
	sort.Strings(warnings)
	hint := "kubectl describe externalsecret -n NAMESPACE NAME; check the secret store and the item in 1Password"
	switch {
	case len(failures) > 0:
		if notReady {
			hint = storeHint(es, store)
		}
		msg := strings.Join(append(failures, warnings...), "; ")
		if firstErr != nil {
			return Result{Status: StatusFailure, Message: msg, Hint: hint, Err: firstErr}
		}
		return Fail(hint, "", "%s", msg)
	case len(warnings) > 0:
		return Warn(hint, "", "%s", strings.Join(warnings, "; "))
	}
	return OK("all %d ExternalSecrets are Ready and synced recently", len(answers))
}
