package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// The package's shared bed: one per test package (the control plane takes ~600 MiB), started
// on first use by Require and stopped by RunMain after the tests.
var shared struct {
	once    sync.Once
	opts    MainOptions
	cluster *Cluster
	err     error
	mon     *Monitoring
	monErr  error
	monOnce sync.Once
}

// MainOptions tune RunMain.
type MainOptions struct {
	// Options are passed to Start.
	Options
	// Monitoring are passed to StartMonitoring when a test asks for RequireMonitoring.
	Monitoring MonitoringOptions
	// StartTimeout bounds the bed's start (default 3 minutes).
	StartTimeout time.Duration
}

// RunMain runs a test package's tests with one shared bed, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }
//
// The bed starts lazily (tests that do not call Require never pay for it) and is stopped
// after the tests, also on SIGINT/SIGTERM. Run integration packages with a generous
// -timeout: a panic or a test timeout kills the process without cleanup, and then only the
// processes die (parent-death signal); the next bed removes the leftover network.
func RunMain(m *testing.M, o MainOptions) int {
	// A container of the bed's pod runtime is this binary again: become it when asked.
	podrun.MaybeRunContainerInit()
	shared.opts = o
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "testbed: %v: stopping the bed\n", sig)
			_ = stopShared()
			servers.RemovePostgresTemplates()
			os.Exit(130)
		case <-done:
		}
	}()
	code := m.Run()
	close(done)
	signal.Stop(sigs)
	defer servers.RemovePostgresTemplates()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testbed: stop: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func stopShared() error {
	if shared.cluster == nil {
		return nil
	}
	return shared.cluster.Stop()
}

// skipOrFail skips locally and fails in CI: CI must never skip the bed's tests silently.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if proc.InCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Require returns the package's shared bed, starting it on first use (RunMain must be the
// package's TestMain). Without built binaries it skips the test locally and fails it in CI.
func Require(t testing.TB) *Cluster {
	t.Helper()
	proc.SkipServersUnderShort(t, "the test bed")
	shared.once.Do(func() {
		o := shared.opts
		if o.Logf == nil {
			o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		}
		timeout := o.StartTimeout
		if timeout == 0 {
			timeout = 3 * time.Minute
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		shared.cluster, shared.err = Start(ctx, o.Options)
	})
	if errors.Is(shared.err, ErrNotBuilt) {
		skipOrFail(t, "test bed: %v", shared.err)
	}
	if shared.err != nil {
		t.Fatalf("test bed: %v", shared.err)
	}
	return shared.cluster
}

// RequireRunPods returns the shared bed and fails or skips (CI or not) the test when the bed
// has no pod runtime (package podrun needs root).
func RequireRunPods(t testing.TB) *Cluster {
	t.Helper()
	c := Require(t)
	if c.Runtime == nil {
		skipOrFail(t, "test bed: no pod runtime (needs root)")
	}
	return c
}

// RequireMonitoring returns the shared bed with real Prometheus, Alertmanager and Postgres
// in the cluster (started on first use). It needs root: without it the test skips locally
// and fails in CI.
func RequireMonitoring(t testing.TB) (*Cluster, *Monitoring) {
	t.Helper()
	c := Require(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "test bed: %v", ErrNeedRoot)
	}
	shared.monOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.mon, shared.monErr = c.StartMonitoring(ctx, shared.opts.Monitoring)
	})
	if shared.monErr != nil {
		t.Fatalf("test bed monitoring: %v", shared.monErr)
	}
	return c, shared.mon
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace of the test's own (named after it) and deletes it when the
// test ends.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	prefix := nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-")
	prefix = strings.Trim(prefix, "-")
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-" + prefix + "-", Labels: map[string]string{"picluster.dev/test": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete test namespace %s: %v", ns.Name, err)
		}
	})
	// Pods are refused until the namespace's default service account exists.
	err = waitServiceAccount(ctx, c, ns.Name)
	if err != nil {
		t.Fatalf("test namespace %s: %v", ns.Name, err)
	}
	return ns.Name
}

// RequireBinaries returns the bed's build dir (see BinDir) for tests that start beds of
// their own. Without a build it skips the test locally and fails it in CI.
func RequireBinaries(t testing.TB) string {
	t.Helper()
	proc.SkipServersUnderShort(t, "test beds")
	dir, err := BinDir()
	if errors.Is(err, ErrNotBuilt) {
		skipOrFail(t, "test bed: %v", err)
	}
	if err != nil {
		t.Fatalf("test bed: %v", err)
	}
	return dir
}
