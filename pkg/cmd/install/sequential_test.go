package install_test

// Tests here change cluster-wide state (the picluster-operator ClusterRole, a CRD), so they
// do not call t.Parallel: Go runs them before the parallel tests start.

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func TestUsageErrorsAndExportNeedNoCluster(t *testing.T) {
	dir := t.TempDir()
	badSettings := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badSettings, []byte("backup:\n  retention: 0\n"), 0o600))
	// No API server listens here: none of these may need one.
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	nowhere := []string{"--server", "https://127.0.0.1:1", "--config", empty}
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"export":                {[]string{"install", "--export"}, 0, "kind: "},
		"unknown component":     {[]string{"install", "--component", "grafana"}, 2, `unknown component "grafana"`},
		"bad dry-run":           {[]string{"install", "--dry-run=maybe"}, 2, `invalid --dry-run "maybe"`},
		"wait with dry-run":     {[]string{"install", "--dry-run=server", "--wait"}, 2, "--wait cannot be used with --dry-run"},
		"export with output":    {[]string{"install", "--export", "-o", "json"}, 2, "--export"},
		"zero timeout":          {[]string{"install", "--timeout", "0s"}, 2, `invalid argument "0s" for "--timeout" flag: must be greater than 0`},
		"argument":              {[]string{"install", "everything"}, 2, "unknown command"},
		"bad output":            {[]string{"uninstall", "-o", "wide"}, 2, `unsupported output format "wide"`},
		"uninstall component":   {[]string{"uninstall", "--component", "grafana"}, 2, `unknown component "grafana"`},
		"bad settings, export":  {[]string{"--config", badSettings, "install", "--export"}, 2, "backup.retention"},
		"bad settings, install": {[]string{"--config", badSettings, "install"}, 2, "backup.retention"},
		"no cluster":            {[]string{"install"}, 2, "127.0.0.1:1"},
		"help has examples":     {[]string{"install", "--help"}, 0, "kubectl picluster install --export > picluster.yaml"},
		"uninstall help":        {[]string{"uninstall", "--help"}, 0, "kubectl picluster uninstall --dry-run"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := run(t, "", append(append([]string{}, nowhere...), tc.args...)...)
			assert.Equal(t, tc.code, r.Code, "stdout:\n%s\nstderr:\n%s", r.Out, r.Err)
			assert.Contains(t, r.Out+r.Err, tc.want)
		})
	}
}

// TestExportPrintsTheGoldenBundle ties `install --export` to pkg/bundle's golden file of the
// default settings (go test ./pkg/bundle -run TestGoldenDefaultRender -update rewrites it).
func TestExportPrintsTheGoldenBundle(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	want, err := os.ReadFile(filepath.Join("..", "..", "bundle", "testdata", "default.golden"))
	require.NoError(t, err)
	r := run(t, "", "--server", "https://127.0.0.1:1", "--config", empty, "install", "--export")
	require.Equal(t, 0, r.Code, r.Err)
	assert.Equal(t, string(want), r.Out)
	assert.Empty(t, r.Err, "--export prints no progress")
}

func TestOperatorRoleGrantsTheDailyCommandsAndNothingMore(t *testing.T) {
	c := testbed.Require(t)
	e := newEnv(t, c)
	r := e.plugin(t, "", "install")
	require.Equal(t, 0, r.Code, r.Err)
	t.Cleanup(func() { e.plugin(t, "", "uninstall", "--yes") })
	s := settings.Default()

	// An on-call user who is only in the group the bundle binds to picluster-operator.
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "oncall@example.org", Groups: []string{s.RBAC.Group, "system:authenticated"}}
	checkOperator(t, e, cfg)

	// The control: without the group, the same requests are refused, so the checks above
	// prove the role grants them.
	nobody := rest.CopyConfig(c.Config)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: "nobody@example.org", Groups: []string{"system:authenticated"}}
	allowed, _ := operatorChecks(t, e, nobody)
	for name, do := range allowed {
		err := do()
		assert.True(t, apierrors.IsForbidden(err), "%s without the role must be forbidden, got %v", name, err)
	}

	// The cron ServiceAccount, when the bundle creates one, with a token of its own.
	sa, err := c.Client.CoreV1().ServiceAccounts(e.monitoring).Get(context.Background(), s.RBAC.ServiceAccount, metav1.GetOptions{})
	if err == nil {
		tok, err := c.Client.CoreV1().ServiceAccounts(e.monitoring).CreateToken(context.Background(), sa.Name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		require.NoError(t, err)
		cfg := rest.AnonymousClientConfig(c.Config)
		cfg.BearerToken = tok.Status.Token
		checkOperator(t, e, cfg)
	} else {
		require.True(t, apierrors.IsNotFound(err), "%v", err)
	}
}

// checkOperator asserts what a holder of picluster-operator may and may not do.
func checkOperator(t *testing.T, e *env, cfg *rest.Config) {
	t.Helper()
	allowed, forbidden := operatorChecks(t, e, cfg)
	for name, do := range allowed {
		err := do()
		assert.False(t, apierrors.IsForbidden(err), "%s: %v", name, err)
	}
	for name, do := range forbidden {
		err := do()
		assert.True(t, apierrors.IsForbidden(err), "%s must be forbidden, got %v", name, err)
	}
}

// operatorChecks are requests the day-to-day commands make (allowed) and requests the
// role must refuse (forbidden), made with cfg.
func operatorChecks(t *testing.T, e *env, cfg *rest.Config) (allowed, forbidden map[string]func() error) {
	t.Helper()
	ctx := context.Background()
	kc, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	allowed = map[string]func() error{
		"list pods in immich": func() error {
			_, err := kc.CoreV1().Pods(e.immich).List(ctx, metav1.ListOptions{})
			return err
		},
		"list deployments in immich": func() error {
			_, err := kc.AppsV1().Deployments(e.immich).List(ctx, metav1.ListOptions{})
			return err
		},
		"list cronjobs in backup": func() error {
			_, err := kc.BatchV1().CronJobs(e.backup).List(ctx, metav1.ListOptions{})
			return err
		},
		"list jobs in backup": func() error {
			_, err := kc.BatchV1().Jobs(e.backup).List(ctx, metav1.ListOptions{})
			return err
		},
		"list prometheusrules": func() error {
			_, err := dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}).
				Namespace(e.monitoring).List(ctx, metav1.ListOptions{})
			return err
		},
		"list helmreleases": func() error {
			_, err := dyn.Resource(schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}).
				Namespace(e.monitoring).List(ctx, metav1.ListOptions{})
			return err
		},
		"take the restore lease in backup": func() error {
			now := metav1.NewMicroTime(time.Now())
			_, err := kc.CoordinationV1().Leases(e.backup).Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "restore-"},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("rbac-test"), RenewTime: &now},
			}, metav1.CreateOptions{})
			return err
		},
		"read the scale of immich-server (restore)": func() error {
			_, err := kc.AppsV1().Deployments(e.immich).GetScale(ctx, "immich-server", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		},
		"query prometheus through the service proxy": func() error {
			return proxyGet(ctx, kc, e.monitoring, "prometheus-operated:web", "api/v1/targets")
		},
		"list silences through the service proxy": func() error {
			return proxyGet(ctx, kc, e.monitoring, "alertmanager-operated:web", "api/v2/silences")
		},
	}
	forbidden = map[string]func() error{
		"read secrets": func() error {
			_, err := kc.CoreV1().Secrets(e.backup).Get(ctx, "any", metav1.GetOptions{})
			return err
		},
		"list secrets": func() error {
			_, err := kc.CoreV1().Secrets(e.monitoring).List(ctx, metav1.ListOptions{})
			return err
		},
		"delete deployments": func() error {
			return kc.AppsV1().Deployments(e.immich).Delete(ctx, "immich-server", metav1.DeleteOptions{})
		},
		"delete namespaces": func() error {
			return kc.CoreV1().Namespaces().Delete(ctx, e.immich, metav1.DeleteOptions{})
		},
		"bind roles": func() error {
			_, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "escalate"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			}, metav1.CreateOptions{})
			return err
		},
	}
	return allowed, forbidden
}

// proxyGet asks a Service through the API server's proxy. There is no Prometheus here, so
// an authorised request fails with 503 (no endpoints); a refused one with 403.
func proxyGet(ctx context.Context, kc kubernetes.Interface, ns, svc, path string) error {
	res := kc.CoreV1().RESTClient().Get().Namespace(ns).Resource("services").Name(svc).SubResource("proxy").Suffix(path).Do(ctx)
	var code int
	res.StatusCode(&code)
	if code == http.StatusServiceUnavailable || code == http.StatusNotFound {
		return nil
	}
	return res.Error()
}

// TestInstallWithAMissingCRDExits2 deletes a CRD the bundle needs (and puts it back), so
// it must run while no other test of this package is active.
func TestInstallWithAMissingCRDExits2(t *testing.T) {
	c := testbed.Require(t)
	e := newEnv(t, c)
	required := bundle.RequiredCRDs(bundle.Components()...)
	require.NotEmpty(t, required)
	crd := required[0]
	removeCRD(t, c, crd.Name, crd.Group, crd.Kind)
	before := e.snapshot(t)

	r := e.plugin(t, "", "install")
	require.Equal(t, 2, r.Code, "stdout:\n%s\nstderr:\n%s", r.Out, r.Err)
	assert.Contains(t, r.Err, crd.Name)
	assert.Contains(t, r.Err, crd.HowToGet)
	assert.Contains(t, r.Err, "nothing was applied")
	assert.Equal(t, before, e.snapshot(t), "nothing is applied")
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// removeCRD deletes a CRD of the bed until discovery no longer serves its kind, and puts
// the bed's generated copy back after the test.
func removeCRD(t *testing.T, c *testbed.Cluster, name, group, kind string) {
	t.Helper()
	plural, _, _ := strings.Cut(name, ".")
	file := filepath.Join(c.BinDir, "crds", group+"_"+plural+".yaml")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal(data, &obj))
	ctx := context.Background()
	require.NoError(t, c.Dynamic.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{}))
	t.Cleanup(func() {
		u := &unstructured.Unstructured{Object: obj}
		_, err := c.Dynamic.Resource(crdGVR).Apply(ctx, name, u, metav1.ApplyOptions{FieldManager: "picluster-testbed", Force: true})
		require.NoError(t, err, "put CRD %s back", name)
		waitServed(t, c, group, kind, true)
	})
	waitServed(t, c, group, kind, false)
}

// waitServed waits until discovery does (or does not) serve group's kind.
func waitServed(t *testing.T, c *testbed.Cluster, group, kind string, want bool) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, 200*time.Millisecond, func(context.Context) (bool, error) {
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
			return false, nil
		}
		served := false
		for _, l := range lists {
			gv, _ := schema.ParseGroupVersion(l.GroupVersion)
			for _, r := range l.APIResources {
				served = served || (gv.Group == group && r.Kind == kind)
			}
		}
		return served == want, nil
	}), "discovery serving %s.%s: want %v", kind, group, want)
}
