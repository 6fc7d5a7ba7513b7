package install_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// result is one run of the plugin.
type result struct {
	Out, Err string
	Code     int
}

// run runs `kubectl picluster ARGS` in-process with stdin, as main does.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := plugintest.Runner{Stdin: stdin, Timeout: 3 * time.Minute}.Run(t, args...)
	return result{Out: r.Stdout, Err: r.Stderr, Code: r.Code}
}

// env is one test's view: its own settings file, namespaces no other test uses, and the
// Immich namespace that, as on the real cluster, exists before install.
type env struct {
	c                          *testbed.Cluster
	config                     string
	monitoring, immich, backup string
}

// newEnv writes settings that put the bundle in namespaces of the test's own and deletes
// them after the test.
func newEnv(t *testing.T, c *testbed.Cluster) *env {
	t.Helper()
	id := rand.String(5)
	e := &env{c: c, monitoring: "mon-" + id, immich: "imm-" + id, backup: "bak-" + id}
	e.config = filepath.Join(t.TempDir(), "config.yaml")
	data := fmt.Sprintf("namespaces:\n  monitoring: %s\n  immich: %s\n  backup: %s\n", e.monitoring, e.immich, e.backup)
	require.NoError(t, os.WriteFile(e.config, []byte(data), 0o600))
	ctx := context.Background()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, namespace(e.immich), metav1.CreateOptions{})
	require.NoError(t, err)
	settle(t, c, e.immich)
	t.Cleanup(func() {
		for _, ns := range e.namespaces() {
			_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	return e
}

// settle waits until the controllers have put into a new namespace what they put into
// every namespace, so that a snapshot taken afterwards stays put.
func settle(t *testing.T, c *testbed.Cluster, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, errSA := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		_, errCM := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return errSA == nil && errCM == nil, nil
	}), "namespace %s settles", ns)
}

func (e *env) namespaces() []string { return []string{e.monitoring, e.immich, e.backup} }

// plugin runs the plugin against the bed with the env's settings.
func (e *env) plugin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, stdin, append([]string{"--kubeconfig", e.c.Kubeconfig, "--config", e.config}, args...)...)
}

// rendered returns the objects `install --export ARGS` prints.
func (e *env) rendered(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	r := e.plugin(t, "", append([]string{"install", "--export"}, args...)...)
	require.Equal(t, 0, r.Code, r.Err)
	return decodeYAML(t, r.Out)
}

func decodeYAML(t *testing.T, s string) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			return out
		}
		if obj != nil {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// mapper maps kinds with a fresh discovery of the bed.
func mapper(t *testing.T, c *testbed.Cluster) meta.RESTMapper {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	require.NoError(t, err)
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

// live reads obj from the cluster; nil when it does not exist.
func live(t *testing.T, c *testbed.Cluster, m meta.RESTMapper, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	gvk := obj.GroupVersionKind()
	rm, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	require.NoError(t, err)
	var u *unstructured.Unstructured
	if rm.Scope.Name() == meta.RESTScopeNameNamespace {
		u, err = c.Dynamic.Resource(rm.Resource).Namespace(obj.GetNamespace()).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	} else {
		u, err = c.Dynamic.Resource(rm.Resource).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return u
}

// snapshot lists every object in the env's namespaces (of every listable kind) and the
// namespaces themselves, as Kind/ns/name@uid: what "the cluster as before" means here.
func (e *env) snapshot(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	dc, err := discovery.NewDiscoveryClientForConfig(e.c.Config)
	require.NoError(t, err)
	lists, err := dc.ServerPreferredNamespacedResources()
	require.NoError(t, err)
	var out []string
	for _, ns := range e.namespaces() {
		n, err := e.c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err == nil {
			out = append(out, "Namespace/"+ns+"@"+string(n.UID))
		}
		for _, l := range lists {
			gv, _ := schema.ParseGroupVersion(l.GroupVersion)
			for _, r := range l.APIResources {
				if strings.Contains(r.Name, "/") || r.Kind == "Event" || !contains(r.Verbs, "list") || (gv.Group == "" && r.Name == "endpoints") {
					continue
				}
				items, err := e.c.Dynamic.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
				require.NoError(t, err)
				for _, it := range items.Items {
					out = append(out, r.Kind+"/"+ns+"/"+it.GetName()+"@"+string(it.GetUID()))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitGone waits until the namespaces are deleted (the namespace controller empties them).
func (e *env) waitGone(t *testing.T, namespaces ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, ns := range namespaces {
			if _, err := e.c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	}), "namespaces %v still exist", namespaces)
}

// markReady sets Ready=True through the status subresource, as Flux's and ESO's
// controllers do, on every object of a kind that reports Ready.
func markReady(ctx context.Context, c *testbed.Cluster, m meta.RESTMapper, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	rm, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	res := c.Dynamic.Resource(rm.Resource).Namespace(obj.GetNamespace())
	u, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": u.GetGeneration(),
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "Succeeded", "message": "reconciled by the test",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": u.GetGeneration(),
		}},
	}
	_, err = res.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "test-controller"})
	return err
}

func namespaceNames(objs []*unstructured.Unstructured) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			out[o.GetName()] = true
		}
	}
	return out
}
