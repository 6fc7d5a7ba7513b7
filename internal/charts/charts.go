// Package charts finds the upstream Helm charts the tests render (never committed:
// shared/charts/README.md says where they come from). A chart is looked up by file
// name and checked against its sha256, first in ../shared/charts beside the checkout,
// then in the cache that hack/cache-charts.sh fills.
package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Chart is one pinned chart archive.
type Chart struct {
	// File is the archive's name, as `helm pull` names it.
	File string
	// SHA256 is the archive's hex sha256.
	SHA256 string
	// Version is the chart's version (the HelmRelease pins it).
	Version string
}

// KubePrometheusStack is the chart the bundle's HelmRelease installs.
var KubePrometheusStack = Chart{
	File:    "kube-prometheus-stack-83.4.0.tgz",
	SHA256:  "9be047e78b248eed94886066b630900eba18a561ab6925c04ef9a9c7a6dca884",
	Version: "83.4.0",
}

// CacheDir is where hack/cache-charts.sh copies the charts: ~/.cache/picluster/charts.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory: %w", err)
	}
	return filepath.Join(dir, "picluster", "charts"), nil
}

// Find returns the path of the chart archive: ../shared/charts beside the repository
// root (found from the working directory), else the cache. A file with the right name
// and the wrong content is an error, not a fallback.
func Find(c Chart) (string, error) {
	var places []string
	if root, err := repoRoot(); err == nil {
		places = append(places, filepath.Join(filepath.Dir(root), "shared", "charts"))
	}
	if dir, err := CacheDir(); err == nil {
		places = append(places, dir)
	}
	for _, dir := range places {
		p := filepath.Join(dir, c.File)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := verify(p, c.SHA256); err != nil {
			return "", err
		}
		return p, nil
	}
	return "", fmt.Errorf("chart %s not found in %s (run hack/cache-charts.sh where ../shared/charts has it)", c.File, strings.Join(places, " or "))
}

// Locate returns the chart's path for a test. A missing chart skips the test, or
// fails it when CI is true-like: CI never skips.
func Locate(t testing.TB, c Chart) string {
	t.Helper()
	p, err := Find(c)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%v (CI=true: tests never skip in CI)", err)
	}
	t.Skipf("%v; skipping (set CI=true to make this a failure)", err)
	return ""
}

func inCI() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("CI")))
	return err == nil && v
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func verify(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read chart %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read chart %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("chart %s: sha256 %s, want %s (not the pinned chart)", path, got, want)
	}
	return nil
}
