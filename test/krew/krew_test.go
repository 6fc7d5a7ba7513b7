package krew

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/release"
)

// validateManifest runs krew's own validation offline (-skip-install: installing would
// download the archives). It infers the plugin name from the file name, so the
// manifest is checked as picluster.yaml, the name it has in a krew index.
func validateManifest(t *testing.T, manifest string) {
	t.Helper()
	validator := krewBin(t, "validate-krew-manifest")
	data, err := os.ReadFile(manifest)
	require.NoError(t, err)
	indexed := filepath.Join(t.TempDir(), release.PluginName+".yaml")
	require.NoError(t, os.WriteFile(indexed, data, 0o644))
	home := t.TempDir()
	run(t, krewEnv(home, filepath.Join(home, "krew")), validator, "-skip-install", "-manifest", indexed)
}

func TestValidateKrewManifest(t *testing.T) {
	t.Run("committed plugins.yaml", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds krew")
		}
		validateManifest(t, filepath.Join(repoRoot(t), release.ManifestFile))
	})
	t.Run("built plugins.yaml", func(t *testing.T) {
		res, _ := builtRelease(t)
		validateManifest(t, res.ManifestPath)
	})
}

// TestKrewInstallEveryPlatform installs each archive with real krew, posing as that
// platform (KREW_OS/KREW_ARCH) and giving the archive instead of a download: krew
// checks the sha256, copies files, links bin; everything the manifest names must land.
func TestKrewInstallEveryPlatform(t *testing.T) {
	res, _ := builtRelease(t)
	krew := krewBin(t, "krew")
	for _, a := range res.Artifacts {
		t.Run(a.Platform.String(), func(t *testing.T) {
			home := t.TempDir()
			root := filepath.Join(home, "krew")
			env := append(krewEnv(home, root), "KREW_OS="+a.Platform.OS, "KREW_ARCH="+a.Platform.Arch)
			run(t, env, krew, "install", "--manifest="+res.ManifestPath, "--archive="+a.Path)

			store := filepath.Join(root, "store", release.PluginName, testVersion)
			entries, err := os.ReadDir(store)
			require.NoError(t, err)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			want := a.Platform.Files()
			sort.Strings(want)
			assert.Equal(t, want, got, "installed files")

			link := filepath.Join(root, "bin", a.Platform.Binary())
			target, err := os.Readlink(link)
			require.NoError(t, err, "krew links the bin into $KREW_ROOT/bin")
			assert.Equal(t, filepath.Join(store, a.Platform.Binary()), target)
			st, err := os.Stat(target)
			require.NoError(t, err)
			assert.NotZero(t, st.Mode()&0o111, "bin is executable after install")
			assert.FileExists(t, filepath.Join(root, "receipts", release.PluginName+".yaml"))
		})
	}
}

// TestKubectlRunsTheKrewInstalledPlugin installs this machine's archive with krew,
// then runs the plugin the way a user does: `kubectl picluster` found by kubectl's
// plugin discovery on $KREW_ROOT/bin, and completion through kubectl_complete-picluster,
// put in place by the very command the manifest's caveats print.
func TestKubectlRunsTheKrewInstalledPlugin(t *testing.T) {
	res, _ := builtRelease(t)
	a := artifact(t, res, runtime.GOOS, runtime.GOARCH)
	krew := krewBin(t, "krew")
	kubectl := kubectlBin(t)

	home := t.TempDir()
	root := filepath.Join(home, "krew")
	env := krewEnv(home, root, filepath.Join(root, "bin"), filepath.Dir(kubectl))
	run(t, env, krew, "install", "--manifest="+res.ManifestPath, "--archive="+a.Path)

	plugins := run(t, env, kubectl, "plugin", "list", "--name-only")
	assert.Contains(t, strings.Fields(plugins), "kubectl-picluster", "kubectl finds the plugin")

	var version struct {
		ClientVersion struct{ Version, Commit, Platform string }
	}
	out := run(t, env, kubectl, "picluster", "version", "--client", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &version), out)
	assert.Equal(t, testVersion, version.ClientVersion.Version)
	assert.Equal(t, testCommit, version.ClientVersion.Commit)
	assert.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, version.ClientVersion.Platform)

	m, err := release.ReadManifest(res.ManifestPath)
	require.NoError(t, err)
	caveat := release.CompletionInstallCommand(testVersion)
	require.Contains(t, m.Spec.Caveats, caveat)
	run(t, env, "sh", "-c", caveat)

	// What the shell's completion asks kubectl when the user types `kubectl picluster ver<TAB>`.
	out = run(t, env, kubectl, "__complete", "picluster", "ver")
	assert.Contains(t, out, "version\t", "kubectl completes the plugin's commands")
	assert.Contains(t, out, ":4\n", "no file completion")
	out = run(t, env, kubectl, "__complete", "picluster", "completion", "")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		assert.Contains(t, out, shell+"\n")
	}
	out = run(t, env, filepath.Join(root, "bin", release.CompletionScript), "version", "--cl")
	assert.Contains(t, out, "--client")

	// Upgrades remove the version's folder; the copied helper must keep working.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "store", release.PluginName, testVersion, release.CompletionScript)))
	out = run(t, env, kubectl, "__complete", "picluster", "ver")
	assert.Contains(t, out, "version\t")
}
