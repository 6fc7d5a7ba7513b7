package chartrender

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helm and Flux are test and demo dependencies: the plugin binary must not link them.
func TestPluginLinksNoHelmOrFlux(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/picluster/kubectl-picluster/cmd/kubectl-picluster").CombinedOutput()
	require.NoError(t, err, "go list:\n%s", out)
	pkgs := strings.Fields(string(out))
	require.Contains(t, pkgs, "github.com/picluster/kubectl-picluster/pkg/bundle", "the listing is the plugin's")
	for _, p := range pkgs {
		assert.False(t, strings.HasPrefix(p, "helm.sh/") || strings.HasPrefix(p, "github.com/fluxcd/"), "the plugin links %s", p)
		assert.False(t, strings.HasPrefix(p, "github.com/picluster/kubectl-picluster/internal/"), "the plugin links %s", p)
	}
}
