package check

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// Category names.
const (
	CategoryKubernetes = "kubernetes"
	CategoryMonitoring = "monitoring"
	CategoryImmich     = "immich"
	CategoryRules      = "rules"
	CategoryAlerting   = "alerting"
	CategorySecrets    = "secrets"
	CategoryBackup     = "backup"
)

func kubernetesChecks(e *Env) []Check {
	return []Check{
		{Category: CategoryKubernetes, Name: "api-server", Run: e.checkAPIServer},
		{Category: CategoryKubernetes, Name: "permissions", Run: e.checkPermissions},
	}
}

func (e *Env) checkAPIServer(ctx context.Context) Result {
	raw, err := e.Kube.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	var v version.Info
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	return EvaluateAPIServer(v.GitVersion, err)
}

// EvaluateAPIServer judges the API server's /version answer.
func EvaluateAPIServer(gitVersion string, err error) Result {
	if err != nil {
		return Errored(err, "check the kubeconfig's server and credentials: kubectl cluster-info", "", "the API server does not answer")
	}
	return OK("the API server answers (Kubernetes %s)", gitVersion)
}

// Access is one permission the checks need.
type Access struct {
	Verb, Group, Resource, Subresource, Namespace string
}

func (a Access) String() string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Namespace == "" {
		return a.Verb + " " + res
	}
	return fmt.Sprintf("%s %s in %s", a.Verb, res, a.Namespace)
}

// RequiredAccess lists what the other checks read: the objects of the Immich,
// monitoring and backup namespaces, and the service proxy when Prometheus or
// Alertmanager is reached through it.
func (e *Env) RequiredAccess() []Access {
	s := e.Settings
	smNS, _ := e.serviceMonitorRef()
	acc := []Access{
		{Verb: "get", Resource: "services", Namespace: s.Namespaces.Immich},
		{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: s.Namespaces.Immich},
		{Verb: "get", Group: ServiceMonitors().Group, Resource: ServiceMonitors().Resource, Namespace: smNS},
		{Verb: "get", Group: HelmReleases().Group, Resource: HelmReleases().Resource, Namespace: s.Namespaces.Monitoring},
		{Verb: "get", Group: "batch", Resource: "cronjobs", Namespace: s.Namespaces.Backup},
		{Verb: "list", Group: "batch", Resource: "jobs", Namespace: s.Namespaces.Backup},
	}
	seen := map[string]bool{}
	for _, es := range e.bundled(ExternalSecrets().Group, "ExternalSecret") {
		if !seen[es.GetNamespace()] {
			seen[es.GetNamespace()] = true
			acc = append(acc, Access{Verb: "get", Group: ExternalSecrets().Group, Resource: ExternalSecrets().Resource, Namespace: es.GetNamespace()})
		}
	}
	if e.serviceProxy() {
		acc = append(acc, Access{Verb: "get", Resource: "services", Subresource: "proxy", Namespace: s.Namespaces.Monitoring})
	}
	return acc
}

// AccessAnswer is the API server's answer for one Access.
type AccessAnswer struct {
	Access  Access
	Allowed bool
	Err     error
}

func (e *Env) checkPermissions(ctx context.Context) Result {
	acc := e.RequiredAccess()
	answers := make([]AccessAnswer, len(acc))
	var wg sync.WaitGroup
	for i, a := range acc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authv1.ResourceAttributes{
					Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace,
				},
			}}
			res, err := e.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			answers[i] = AccessAnswer{Access: a, Err: err}
			if err == nil {
				answers[i].Allowed = res.Status.Allowed
			}
		}()
	}
	wg.Wait()
	return EvaluatePermissions(answers)
}

// EvaluatePermissions judges the access reviews: every permission must be granted.
func EvaluatePermissions(answers []AccessAnswer) Result {
	var denied []string
	for _, a := range answers {
		if a.Err != nil {
			return Errored(a.Err, hintAPIServer, "", "ask the API server whether you may %s", a.Access)
		}
		if !a.Allowed {
			denied = append(denied, a.Access.String())
		}
	}
	if len(denied) > 0 {
		sort.Strings(denied)
		return Fail("bind the plugin's ClusterRole (kubectl picluster install --component rbac) to your user, or run with a kubeconfig that has it",
			"", "%d of %s the checks need %s missing: %s", len(denied), output.Count(len(answers), "permission"), output.Are(len(denied)), strings.Join(denied, "; "))
	}
	return OK("all %d permissions the checks need are granted", len(answers))
}
