package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// knownPaths are where Debian installs binaries that are not on a usual PATH.
var knownPaths = map[string][]string{
	"sshd":       {"/usr/sbin/sshd"},
	"ssh":        {"/usr/bin/ssh"},
	"ssh-keygen": {"/usr/bin/ssh-keygen"},
	"rsync":      {"/usr/bin/rsync"},
	"ip":         {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"},
	"setpriv":    {"/usr/bin/setpriv"},
}

// postgresTools live in /usr/lib/postgresql/<major>/bin on Debian; the newest major wins
// and is preferred over PATH (where pg_wrapper may pick another version).
var postgresTools = map[string]bool{
	"initdb": true, "postgres": true, "pg_ctl": true, "pg_dump": true, "pg_restore": true,
	"psql": true, "pg_isready": true, "createdb": true, "pg_dumpall": true,
}

// PostgresBinDirs lists /usr/lib/postgresql/*/bin, newest major version first.
func PostgresBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	return dirs
}

// LookBinary finds an executable: the test bed's build for Prometheus, Alertmanager and
// their tools (bedTools), Debian's PostgreSQL directories for Postgres tools, then PATH,
// then the known Debian locations.
func LookBinary(name string) (string, error) {
	if p, ok, err := lookBedTool(name); ok {
		return p, err
	}
	var candidates []string
	if postgresTools[name] {
		for _, d := range PostgresBinDirs() {
			candidates = append(candidates, filepath.Join(d, name))
		}
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, c := range knownPaths[name] {
		if isExecutable(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("binary %q not found on PATH or in Debian's locations", name)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// InCI reports whether the tests run in CI, where missing binaries, root or a bed fail the
// tests instead of skipping them. It is the one reading of the CI variable: unset, empty or
// false-like (0, false, no, off, any case) is not CI; any other value (true, 1, yes, or a
// CI system's name) is.
func InCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false", "f", "no", "n", "off":
		return false
	}
	return true
}

// serverBinaries are servers: a test that requires one starts it, so it skips under -short.
var serverBinaries = map[string]bool{
	"prometheus": true, "alertmanager": true, "prometheus-alertmanager": true, "postgres": true, "sshd": true,
}

// RequireBinary returns the path of a binary the test needs. When it is missing the test
// is skipped, or fails when CI=true (CI must never skip). A server binary also skips the
// test under -short (see SkipServersUnderShort).
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	if serverBinaries[name] {
		SkipServersUnderShort(t, name)
	}
	p, err := LookBinary(name)
	if err == nil {
		return p
	}
	if InCI() {
		t.Fatalf("%v (CI=true: install it, tests never skip in CI)", err)
		return ""
	}
	t.Skipf("%v; skipping (set CI=true to make this a failure)", err)
	return ""
}

// RequireRoot skips the test (or fails it in CI) unless it runs as root, for tests that
// need network namespaces or another user.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("needs root for %s (CI=true: tests never skip in CI)", why)
	}
	t.Skipf("needs root for %s; skipping", why)
}

// SkipServersUnderShort skips a test that starts real servers when it runs under -short:
// `make unit` (go test -short) starts no server at all, also in CI. Every server starter
// of the bench (servers.*T, testbed.Require*) calls it, so tests get it for free.
func SkipServersUnderShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %s; skipped under -short", what)
	}
}
