package krew

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/release"
)

// upgradeVersion is the second release the upgrade test publishes.
const upgradeVersion = "v0.1.1-krewtest.1"

// TestKrewCustomIndexInstallAndUpgrade follows the README's custom-index path end to end
// with nothing but loopback: the archives are served over HTTP on 127.0.0.1, the index
// is a local git repository with plugins/picluster.yaml, and krew downloads, verifies,
// installs, then upgrades to a newer release. The completion helper, copied as the
// caveats say, must keep working after the upgrade removed the old version's folder.
func TestKrewCustomIndexInstallAndUpgrade(t *testing.T) {
	res, _ := builtRelease(t)
	a := artifact(t, res, runtime.GOOS, runtime.GOARCH)
	krew := krewBin(t, "krew")
	kubectl := kubectlBin(t)
	git := proc.RequireBinary(t, "git") // krew clones and pulls its indexes with git

	www := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	t.Cleanup(srv.Close)

	home := t.TempDir()
	root := filepath.Join(home, "krew")
	env := append(krewEnv(home, root, filepath.Join(root, "bin"), filepath.Dir(kubectl), filepath.Dir(git)),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid")
	index := filepath.Join(home, "index")
	require.NoError(t, os.MkdirAll(filepath.Join(index, "plugins"), 0o755))
	run(t, env, git, "-C", index, "init", "-q")

	publish := func(version string, art release.Artifact) {
		t.Helper()
		baseURL := srv.URL + "/" + version + "/"
		require.NoError(t, os.MkdirAll(filepath.Join(www, version), 0o755))
		require.NoError(t, os.Link(art.Path, filepath.Join(www, version, filepath.Base(art.Path))))
		manifest, err := release.GenerateManifest(version, baseURL, []release.Artifact{art})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(index, "plugins", release.PluginName+".yaml"), manifest, 0o644))
		run(t, env, git, "-C", index, "add", "-A")
		run(t, env, git, "-C", index, "commit", "-q", "-m", "picluster "+version)
	}

	publish(testVersion, a)
	run(t, env, krew, "index", "add", "home", index)
	run(t, env, krew, "install", "home/"+release.PluginName)
	run(t, env, "sh", "-c", release.CompletionInstallCommand(testVersion))
	assert.Contains(t, run(t, env, kubectl, "__complete", "picluster", "ver"), "version\t")

	publish(upgradeVersion, repack(t, a, upgradeVersion))
	run(t, env, krew, "upgrade", release.PluginName)
	assert.DirExists(t, filepath.Join(root, "store", release.PluginName, upgradeVersion))
	assert.NoDirExists(t, filepath.Join(root, "store", release.PluginName, testVersion), "krew removed the old version")
	assert.Contains(t, run(t, env, kubectl, "picluster", "version", "--client"), "Client Version: ")
	assert.Contains(t, run(t, env, kubectl, "__complete", "picluster", "ver"), "version\t",
		"the copied completion helper survives the upgrade")
}

// repack puts an archive's files into the archive of another version, standing in for
// the next release without another cross-compile.
func repack(t *testing.T, a release.Artifact, version string) release.Artifact {
	t.Helper()
	dir := t.TempDir()
	var entries []release.Entry
	files, err := release.ListArchive(a.Path)
	require.NoError(t, err)
	for _, f := range files {
		data, err := release.ReadArchivedFile(a.Path, f.Name)
		require.NoError(t, err)
		src := filepath.Join(dir, "src-"+f.Name)
		require.NoError(t, os.WriteFile(src, data, 0o600))
		entries = append(entries, release.Entry{Name: f.Name, Source: src, Mode: f.Mode})
	}
	out := release.Artifact{Platform: a.Platform, Path: filepath.Join(dir, a.Platform.ArchiveName(version))}
	require.NoError(t, release.WriteArchive(out.Path, entries, time.Unix(1_750_000_000, 0)))
	out.SHA256, err = release.FileSHA256(out.Path)
	require.NoError(t, err)
	return out
}
