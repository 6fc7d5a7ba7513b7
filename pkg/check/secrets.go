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
	bundled := e.bundled(ExternalSecrets.Group, "ExternalSecret")
	answers := make([]ExternalSecretAnswer, len(bundled))
	var wg sync.WaitGroup
	for i, b := range bundled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := ExternalSecretAnswer{Namespace: b.GetNamespace(), Name: b.GetName()}
			a.Object, a.Err = e.Dynamic.Resource(ExternalSecrets).Namespace(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
			answers[i] = a
		}()
	}
	wg.Wait()
	return EvaluateExternalSecrets(answers, e.Settings.ExternalSecrets.RefreshInterval.D(), e.now())
}

// EvaluateExternalSecrets judges the ExternalSecrets: each must be Ready and have
// synced within two refresh intervals. It reads their status only, never a value.
func EvaluateExternalSecrets(answers []ExternalSecretAnswer, defaultRefresh time.Duration, now time.Time) Result {
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
