// Package installdeps tests hack/install-deps.sh against this machine's dpkg database:
// the packages it lists are looked up for real, and a wrapper around the real
// dpkg-query hides some of them to play a machine that lacks them.
package installdeps

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func script(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..", "hack", "install-deps.sh")
}

// needDpkg skips where there is no dpkg database to read (not Debian).
func needDpkg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("dpkg-query")
	if err != nil {
		t.Skip("no dpkg-query: not a Debian machine")
	}
	return path
}

// stubs writes a dpkg-query that hides the given packages from the real one, and an
// apt-get that only records its arguments; it returns the folder for PATH and the log.
func stubs(t *testing.T, realDpkg string, hidden ...string) (string, string) {
	t.Helper()
	// Not t.TempDir: its parent is private, and the not-root case runs as nobody.
	dir, err := os.MkdirTemp("", "install-deps-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	logFile := filepath.Join(dir, "apt-get.log")
	var sed []string
	for _, p := range hidden {
		sed = append(sed, "-e '/|"+p+"$/d'")
	}
	dpkg := "#!/bin/sh\n" + realDpkg + ` "$@" | sed ` + strings.Join(sed, " ") + "\n"
	apt := "#!/bin/sh\necho \"$*\" >>" + logFile + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dpkg-query"), []byte(dpkg), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apt-get"), []byte(apt), 0o755))
	return dir, logFile
}

// runScript runs the script with PATH=path (after prefix, e.g. setpriv) and returns
// its exit code, its output and the CPU time it and its children used.
func runScript(t *testing.T, path string, prefix []string, args ...string) (int, string, time.Duration) {
	t.Helper()
	argv := append(append(prefix, "env", "PATH="+path, "bash", script(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("install-deps.sh %s: %s wall", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	// CPU time, not wall time: the machine may be busy, but the script must do no
	// more than a dpkg-query (no apt-get update, no build) before it exits.
	return code, out.String(), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func TestListedOnce(t *testing.T) {
	out, err := exec.Command("bash", script(t), "--list").Output()
	require.NoError(t, err)
	pkgs := strings.Fields(string(out))
	assert.Contains(t, pkgs, "postgresql")
	assert.Contains(t, pkgs, "openssh-server")
	for _, f := range []string{".ci/run", "hack/demo.sh"} {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(script(t)), "..", f))
		require.NoError(t, err)
		assert.Contains(t, string(data), "hack/install-deps.sh", "%s calls the script", f)
		assert.NotContains(t, string(data), "apt-get install", "%s keeps no list of its own", f)
	}
}

func TestMissingPackages(t *testing.T) {
	realDpkg := needDpkg(t)
	goDir := filepath.Dir(mustLook(t, "go"))
	stubDir, aptLog := stubs(t, realDpkg, "hyperfine", "rsync")
	path := stubDir + ":" + goDir + ":/usr/bin:/bin"

	t.Run("everything present is a quiet no-op", func(t *testing.T) {
		code, out, cpu := runScript(t, goDir+":/usr/bin:/bin", nil)
		if code == 2 {
			t.Skipf("this machine lacks some of the packages: %s", out)
		}
		assert.Equal(t, 0, code, out)
		assert.Empty(t, out)
		assert.Less(t, cpu, time.Second, "CPU time")
	})
	t.Run("--check names them and the command", func(t *testing.T) {
		code, out, cpu := runScript(t, path, nil, "--check")
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "missing Debian packages: rsync hyperfine")
		assert.Contains(t, out, "apt-get install -y --no-install-recommends rsync hyperfine")
		assert.Less(t, cpu, time.Second, "CPU time")
	})
	t.Run("not root: names them with sudo and exits 2 at once", func(t *testing.T) {
		setpriv, err := exec.LookPath("setpriv")
		if os.Getuid() != 0 || err != nil {
			t.Skip("needs root and setpriv to become another user")
		}
		code, out, cpu := runScript(t, path, []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"})
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "sudo apt-get update && sudo apt-get install -y --no-install-recommends rsync hyperfine")
		assert.Less(t, cpu, time.Second, "CPU time")
		assert.NoFileExists(t, aptLog, "apt-get is not run")
	})
	t.Run("root: apt-get installs exactly the missing ones", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root")
		}
		code, out, _ := runScript(t, path, nil)
		log, err := os.ReadFile(aptLog)
		require.NoError(t, err)
		assert.Equal(t, "update -qq\ninstall -y -qq --no-install-recommends rsync hyperfine\n", string(log))
		// The stub installs nothing, so the script must notice and fail.
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "still missing after apt-get install: rsync hyperfine")
	})
}

func mustLook(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err)
	return path
}
