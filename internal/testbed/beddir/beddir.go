// Package beddir locates the build of hack/build-testbed.sh (the test bed's binaries,
// CRDs and kwok stages). It is a leaf, so the process helpers can take the servers the bed
// builds (Prometheus, Alertmanager and their tools at the chart's versions) from it too.
package beddir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Environment variables that steer where the bed's build is found.
const (
	// EnvDir names a built bed directory (the output of hack/build-testbed.sh).
	EnvDir = "PICLUSTER_TESTBED_DIR"
	// EnvBuild set to 1 lets BinDir run the (cold: ~15 min) build itself.
	EnvBuild = "PICLUSTER_TESTBED_BUILD"
)

// ErrNotBuilt says the bed's binaries are not built yet.
var ErrNotBuilt = errors.New("test bed binaries are not built: run hack/build-testbed.sh (or set " + EnvDir + ")")

// buildScript is the script's path relative to the repository root.
const buildScript = "hack/build-testbed.sh"

// Dir locates the built bed: $PICLUSTER_TESTBED_DIR when set, else the cache dir that
// hack/build-testbed.sh reports. It runs the build only when $PICLUSTER_TESTBED_BUILD=1;
// otherwise an unbuilt bed gives ErrNotBuilt. The dir holds bin/, crds/ and kwok/stages/.
func Dir() (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		if err := checkBinDir(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvDir, dir, err)
		}
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	args := []string{filepath.Join(root, buildScript)}
	if os.Getenv(EnvBuild) != "1" {
		args = append(args, "--locate")
	}
	cmd := exec.Command("bash", args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return "", ErrNotBuilt
		}
		return "", fmt.Errorf("run %s: %w: %s", buildScript, err, lastLines(stderr.String(), 20))
	}
	dir := strings.TrimSpace(lastLines(stdout.String(), 1))
	if err := checkBinDir(dir); err != nil {
		return "", fmt.Errorf("%s printed %q: %w", buildScript, dir, err)
	}
	return dir, nil
}

// checkBinDir tells whether dir looks like a complete build.
func checkBinDir(dir string) error {
	for _, p := range []string{"versions.env", "bin/etcd", "bin/kube-apiserver", "bin/kwok", "crds", "kwok/stages"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("incomplete test bed build: %w", err)
		}
	}
	return nil
}

// repoRoot finds the directory holding hack/build-testbed.sh: from the working directory
// (go test runs in the package dir) or from this source file.
func repoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, buildScript)); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("find %s above %v: %w", buildScript, starts, ErrNotBuilt)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
