package servers

import (
	"context"
	"strings"
	"testing"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// prepareT fills in a test's Options (Dir from t.TempDir) and checks what the server needs:
// missing binaries (or root for a network namespace) skip the test, or fail it when CI=true.
func prepareT(t testing.TB, o Options, binaries ...string) (Options, context.Context, context.CancelFunc) {
	t.Helper()
	proc.SkipServersUnderShort(t, "a real server ("+strings.Join(binaries, ", ")+")")
	for _, b := range binaries {
		proc.RequireBinary(t, b)
	}
	if o.NetNS != "" {
		proc.RequireRoot(t, "a server in a network namespace")
		proc.RequireBinary(t, "ip")
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	return o, ctx, cancel
}

// stopAtCleanup registers stop with t.Cleanup; a failed stop fails the test, since it may
// leave a process behind.
func stopAtCleanup(t testing.TB, name string, stop func() error) {
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
}

// PrometheusT starts Prometheus for a test and stops it at cleanup; see StartPrometheus.
func PrometheusT(t testing.TB, o Options, configYAML string, ruleFiles map[string]string) *Prometheus {
	t.Helper()
	o, ctx, cancel := prepareT(t, o, "prometheus")
	defer cancel()
	p, err := StartPrometheus(ctx, o, configYAML, ruleFiles)
	if err != nil {
		t.Fatalf("%v", err)
	}
	stopAtCleanup(t, "prometheus", p.Stop)
	return p
}

// AlertmanagerT starts Alertmanager for a test and stops it at cleanup; see StartAlertmanager.
func AlertmanagerT(t testing.TB, o Options, configYAML string) *Alertmanager {
	t.Helper()
	o, ctx, cancel := prepareT(t, o, "alertmanager")
	defer cancel()
	a, err := StartAlertmanager(ctx, o, configYAML)
	if err != nil {
		t.Fatalf("%v", err)
	}
	stopAtCleanup(t, "alertmanager", a.Stop)
	return a
}

// PostgresT starts PostgreSQL for a test and stops it at cleanup; see StartPostgres.
func PostgresT(t testing.TB, o Options, database, password string) *Postgres {
	t.Helper()
	o, ctx, cancel := prepareT(t, o, "initdb", "postgres", "psql", "pg_isready")
	defer cancel()
	p, err := StartPostgres(ctx, o, database, password)
	if err != nil {
		t.Fatalf("%v", err)
	}
	stopAtCleanup(t, "postgres", p.Stop)
	return p
}

// NAST starts the SSH+rsync NAS for a test and stops it at cleanup; see StartNAS. It needs
// root (skipped locally, failed in CI otherwise).
func NAST(t testing.TB, o Options) *NAS {
	t.Helper()
	proc.SkipServersUnderShort(t, "sshd")
	proc.RequireRoot(t, "sshd")
	o, ctx, cancel := prepareT(t, o, "sshd", "ssh-keygen", "ssh", "rsync")
	defer cancel()
	n, err := StartNAS(ctx, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	stopAtCleanup(t, "nas", n.Stop)
	return n
}
