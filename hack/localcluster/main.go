// Command localcluster runs the test bed of pkg/testbed as a local cluster for the demo:
// etcd, kube-apiserver, controller-manager, scheduler and kwok, plus (as root) real
// Prometheus, Alertmanager and Postgres behind fake pods and Services named as on the real
// cluster. It stays in the foreground until SIGTERM or SIGINT, then stops everything.
//
// The bed has none of the controllers and workloads the real cluster has, so as root it
// also holds stand-ins for them (see standins.go): Flux's source- and helm-controller,
// External Secrets (with a throwaway vault), prometheus-operator, Immich's pods and
// metrics, kube-state-metrics and Discord, all inside the bed's network namespace.
// They act when asked: `localcluster -reconcile` runs one pass in the running
// localcluster, prints what each stand-in did ("playing helm-controller: ..."), and
// from then on they keep reconciling in the background.
//
// State goes to -state-dir (default ${PICLUSTER_CACHE:-$HOME/.cache/picluster}/demo):
// kubeconfig, norights.kubeconfig, localcluster.pid, env, ready (present while it
// serves), control.sock and cluster/logs/*.log. hack/demo.sh starts it, hack/demo-down.sh
// stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func main() {
	// A container of the bed's pod runtime is this binary again: become it when asked.
	podrun.MaybeRunContainerInit()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

// defaultStateDir is ${PICLUSTER_CACHE:-$HOME/.cache/picluster}/demo.
func defaultStateDir() string {
	cache := os.Getenv("PICLUSTER_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "picluster")
	}
	return filepath.Join(cache, "demo")
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("localcluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", defaultStateDir(), "where the kubeconfig, pid, logs and ready marker go")
	noMonitoring := fs.Bool("no-monitoring", false, "leave out the in-cluster Prometheus, Alertmanager and Postgres")
	cleanup := fs.Bool("cleanup", false, "remove network namespaces and veths left by killed beds, then exit")
	reconcile := fs.Bool("reconcile", false, "ask the running localcluster to run its controller stand-ins once, print what they did, then exit")
	config := fs.String("config", "", "settings file the stand-ins read, as kubectl picluster --config (default: the plugin's default path)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reconcile {
		return requestReconcile(*stateDir, stdout)
	}
	if *cleanup {
		removed, err := testbed.RemoveLeftovers()
		for _, r := range removed {
			fmt.Fprintln(stdout, "removed", r)
		}
		return err
	}
	return serve(*stateDir, *config, !*noMonitoring, stdout, stderr)
}

func serve(stateDir, config string, monitoring bool, stdout, stderr io.Writer) (err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("make state dir: %w", err)
	}
	pidFile := filepath.Join(stateDir, "localcluster.pid")
	if pid, ok := runningPID(pidFile); ok {
		return fmt.Errorf("already running as pid %d (stop it with make demo-down)", pid)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	ready := filepath.Join(stateDir, "ready")
	envFile := filepath.Join(stateDir, "env")
	defer func() {
		_ = os.Remove(ready)
		_ = os.Remove(envFile)
		_ = os.Remove(pidFile)
	}()
	_ = os.Remove(ready)
	clusterDir := filepath.Join(stateDir, "cluster")
	if err := os.RemoveAll(clusterDir); err != nil {
		return fmt.Errorf("remove the previous cluster dir: %w", err)
	}

	// Postgres keeps an initialised template cluster per process (tmpfs).
	defer servers.RemovePostgresTemplates()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	began := time.Now()
	c, err := testbed.Start(ctx, testbed.Options{Dir: clusterDir, KeepDir: true, Logf: logf})
	if err != nil {
		return err
	}
	defer func() {
		logf("localcluster: stopping")
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", stopErr))
		}
	}()
	env := []string{}
	switch {
	case !monitoring:
	case os.Geteuid() != 0:
		logf("localcluster: not root: no in-cluster Prometheus, Alertmanager or Postgres (they need a network namespace)")
	default:
		m, err := c.StartMonitoring(ctx, testbed.MonitoringOptions{})
		if err != nil {
			return err
		}
		env = append(env,
			"PICLUSTER_DEMO_PROMETHEUS_URL="+m.Prometheus.URL,
			"PICLUSTER_DEMO_ALERTMANAGER_URL="+m.Alertmanager.URL)
		if m.Postgres != nil {
			env = append(env, "PICLUSTER_DEMO_POSTGRES="+fmt.Sprintf("%s:%d", m.Postgres.Host, m.Postgres.Port))
		}
		var nas *testbed.BedNAS
		if c.Runtime != nil && m.Postgres != nil {
			if nas, err = c.StartNAS(ctx); err != nil {
				return err
			}
			if config == "" {
				// Settings for the bed: the defaults but where the bed differs from the
				// seed's cluster, so that the backup Job really runs against the bed's
				// Postgres and NAS.
				if config, err = writeDemoSettings(stateDir, nas); err != nil {
					return err
				}
			}
			env = append(env, "PICLUSTER_DEMO_CONFIG="+config)
		}
		stopStandIns, err := startStandIns(ctx, c, m, nas, stateDir, config, stderr)
		if err != nil {
			return err
		}
		defer stopStandIns()
	}
	kubeconfig := filepath.Join(stateDir, "kubeconfig")
	if err := copyFile(c.Kubeconfig, kubeconfig); err != nil {
		return err
	}
	if err := copyFile(c.NoRightsKubeconfig, filepath.Join(stateDir, "norights.kubeconfig")); err != nil {
		return err
	}
	env = append([]string{
		"KUBECONFIG=" + kubeconfig,
		"PICLUSTER_DEMO_KUBECTL=" + c.Kubectl,
		"PICLUSTER_DEMO_LOGS=" + filepath.Join(clusterDir, "logs"),
	}, env...)
	var b strings.Builder
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&b, "export %s=%q\n", k, v)
	}
	if err := os.WriteFile(envFile, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	if err := os.WriteFile(ready, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write ready marker: %w", err)
	}
	logf("localcluster: ready after %s, RSS %d MiB; KUBECONFIG=%s", time.Since(began).Round(time.Millisecond), c.RSS()>>20, kubeconfig)
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", kubeconfig)
	<-ctx.Done()
	return nil
}

// startStandIns starts the controller stand-ins and the control socket that runs them.
func startStandIns(ctx context.Context, c *testbed.Cluster, m *testbed.Monitoring, nas *testbed.BedNAS, stateDir, config string, logw io.Writer) (func(), error) {
	path, required := settings.DefaultPath(), false
	if config != "" {
		path, required = config, true
	}
	s, err := settings.Load(path, required)
	if err != nil {
		return nil, err
	}
	si, err := newStandIns(c, m, nas, s, logw)
	if err != nil {
		return nil, fmt.Errorf("start the controller stand-ins: %w", err)
	}
	stopControl, err := serveControl(ctx, stateDir, si, logw)
	if err != nil {
		si.Stop()
		return nil, err
	}
	return func() { stopControl(); si.Stop() }, nil
}

// writeDemoSettings writes the demo's settings file: the defaults, but the NAS is the bed's
// (its name, user and folder) and Postgres has the bed server's major version (Debian's;
// the backup image is the official one of that major, which the bed runs with Debian's
// client tools).
func writeDemoSettings(stateDir string, nas *testbed.BedNAS) (string, error) {
	major, err := podrun.HostPostgresMajor()
	if err != nil {
		return "", err
	}
	path := filepath.Join(stateDir, "config.yaml")
	doc := fmt.Sprintf("# the demo's settings (hack/localcluster): the bed's Postgres and NAS\n"+
		"postgres:\n  majorVersion: %d\nbackup:\n  nas:\n    host: %s\n    user: %s\n    path: %s\n",
		major, nas.Name, nas.User, nas.Path)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return "", fmt.Errorf("write the demo's settings: %w", err)
	}
	return path, nil
}

// runningPID reads a pid file and tells whether that process still runs.
func runningPID(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		return fmt.Errorf("copy to %s: %w", to, err)
	}
	return nil
}
