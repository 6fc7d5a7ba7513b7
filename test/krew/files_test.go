package krew

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/release"
)

// TestCommittedKrewTemplateIsCurrent: .krew.yaml is generated; a stale one would make
// krew-release-bot publish a manifest the release build never checked.
func TestCommittedKrewTemplateIsCurrent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".krew.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(release.TemplateFile()), string(data), "run hack/release.sh to regenerate .krew.yaml")
}

// TestCommittedManifestIsCurrent: plugins.yaml must be what the release build renders
// for its version today; only the sha256 values come from the file itself (they are
// the sums of that release's archives, which are not here to re-hash).
func TestCommittedManifestIsCurrent(t *testing.T) {
	file := filepath.Join(repoRoot(t), release.ManifestFile)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	m, err := release.ParseManifest(data)
	require.NoError(t, err)
	require.NoError(t, release.ValidateVersion(m.Spec.Version))

	shas := map[string]string{}
	for _, p := range m.Spec.Platforms {
		shas[p.URI] = p.SHA256
	}
	rendered, err := release.RenderTemplate(
		release.KrewTemplate(release.DefaultPlatforms(), release.DefaultBaseURL(release.TagPlaceholder)),
		m.Spec.Version,
		func(url string) (string, error) {
			sha, ok := shas[url]
			if !ok {
				return "", fmt.Errorf("committed plugins.yaml has no platform with uri %s", url)
			}
			return sha, nil
		})
	require.NoError(t, err)
	body := string(data)
	if i := strings.Index(body, "apiVersion:"); i >= 0 {
		body = body[i:]
	}
	assert.Equal(t, string(rendered), body, "run hack/release.sh -version %s to regenerate plugins.yaml", m.Spec.Version)
}

// TestKrewReleaseBotRendersTheSameManifest renders the committed .krew.yaml the way
// krew-release-bot does, hashing the built archives its URLs name: the result must be
// the manifest the release build wrote.
func TestKrewReleaseBotRendersTheSameManifest(t *testing.T) {
	res, _ := builtRelease(t)
	if len(res.Artifacts) != len(release.DefaultPlatforms()) {
		skipOrFail(t, "needs every platform built (%s=%q)", envPlatforms, getenv(envPlatforms))
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), ".krew.yaml"))
	require.NoError(t, err)
	byURL := map[string]string{}
	for _, a := range res.Artifacts {
		byURL[release.DefaultBaseURL(testVersion)+filepath.Base(a.Path)] = a.Path
	}
	rendered, err := release.RenderTemplate(string(tmpl), testVersion, func(url string) (string, error) {
		path, ok := byURL[url]
		if !ok {
			return "", fmt.Errorf("no built archive for %s", url)
		}
		return release.FileSHA256(path)
	})
	require.NoError(t, err)
	bot, err := release.ParseManifest(rendered)
	require.NoError(t, err)
	ours, err := release.ReadManifest(res.ManifestPath)
	require.NoError(t, err)
	assert.Equal(t, ours, bot)
}
