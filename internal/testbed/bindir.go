package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/picluster/kubectl-picluster/internal/testbed/beddir"
)

// Environment variables that steer where the bed's build is found (see beddir).
const (
	EnvDir   = beddir.EnvDir
	EnvBuild = beddir.EnvBuild
)

// ErrNotBuilt says the bed's binaries are not built yet.
var ErrNotBuilt = beddir.ErrNotBuilt

// BinDir locates the built bed (see beddir.Dir). The dir holds bin/, crds/ and kwok/stages/.
func BinDir() (string, error) { return beddir.Dir() }

// versions reads versions.env of a build (KUBE_VERSION=v1.37.2, ...).
func versions(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "versions.env"))
	if err != nil {
		return nil, fmt.Errorf("read test bed versions: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			out[k] = v
		}
	}
	return out, nil
}
