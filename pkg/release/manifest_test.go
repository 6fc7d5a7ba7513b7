package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeArtifacts packs small stand-in files the way Build packs the real ones.
func fakeArtifacts(t *testing.T, version string, platforms []Platform) []Artifact {
	t.Helper()
	dir := t.TempDir()
	var out []Artifact
	for _, p := range platforms {
		bin := writeFile(t, dir, "bin-"+strings.ReplaceAll(p.String(), "/", "_"), "binary for "+p.String())
		path := filepath.Join(dir, p.ArchiveName(version))
		require.NoError(t, WriteArchive(path, []Entry{
			{Name: p.Binary(), Source: bin, Mode: 0o755},
			{Name: CompletionScript, Source: writeFile(t, dir, "script", "#!/bin/sh\n"), Mode: 0o755},
			{Name: LicenseFile, Source: writeFile(t, dir, "license", "Apache"), Mode: 0o644},
		}, time.Unix(0, 0)))
		sha, err := FileSHA256(path)
		require.NoError(t, err)
		out = append(out, Artifact{Platform: p, Path: path, SHA256: sha})
	}
	return out
}

func TestGenerateManifest(t *testing.T) {
	arts := fakeArtifacts(t, "v1.2.3", DefaultPlatforms())
	data, err := GenerateManifest("v1.2.3", "https://example.invalid/dl", arts)
	require.NoError(t, err)
	m, err := ParseManifest(data)
	require.NoError(t, err)

	assert.Equal(t, KrewAPIVersion, m.APIVersion)
	assert.Equal(t, KrewKind, m.Kind)
	assert.Equal(t, PluginName, m.Metadata.Name)
	assert.Equal(t, "v1.2.3", m.Spec.Version)
	assert.NotContains(t, m.Spec.ShortDescription, "\n")
	assert.Contains(t, m.Spec.Caveats, CompletionInstallCommand("v1.2.3"))
	require.Len(t, m.Spec.Platforms, len(arts))
	for i, a := range arts {
		mp, ok := m.Platform(a.Platform.OS, a.Platform.Arch)
		require.True(t, ok, a.Platform.String())
		assert.Equal(t, m.Spec.Platforms[i], mp, "platforms keep the build order")
		assert.Equal(t, "https://example.invalid/dl/"+filepath.Base(a.Path), mp.URI)
		assert.Equal(t, a.SHA256, mp.SHA256)
		assert.Equal(t, a.Platform.Binary(), mp.Bin)
		files, err := ListArchive(a.Path)
		require.NoError(t, err)
		require.NoError(t, mp.CheckArchive(files))
	}
	assert.True(t, strings.HasPrefix(string(data), "# krew manifest of picluster v1.2.3"))
}

func TestGenerateManifestRefusesMismatch(t *testing.T) {
	arts := fakeArtifacts(t, "v1.2.3", []Platform{{OS: "linux", Arch: "amd64"}})
	renamed := filepath.Join(filepath.Dir(arts[0].Path), "other.tar.gz")
	require.NoError(t, os.Rename(arts[0].Path, renamed))

	tests := map[string]struct {
		version string
		arts    []Artifact
		wantErr string
	}{
		"bad version":                {version: "1.2.3", arts: arts, wantErr: "leading v"},
		"not semver":                 {version: "v1.2", arts: arts, wantErr: "v1.2"},
		"archive misnamed":           {version: "v1.2.3", arts: []Artifact{{Platform: arts[0].Platform, Path: renamed, SHA256: arts[0].SHA256}}, wantErr: "not one of the built archives"},
		"archive of another version": {version: "v9.9.9", arts: arts, wantErr: "not one of the built archives"},
		"archive missing":            {version: "v1.2.3", arts: []Artifact{{Platform: arts[0].Platform, Path: arts[0].Path, SHA256: arts[0].SHA256}}, wantErr: "no such file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := GenerateManifest(tc.version, "https://example.invalid/", tc.arts)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestCheckArchive(t *testing.T) {
	entry := ManifestPlatform{
		Files: []FileOperation{{From: "kubectl-picluster", To: "."}, {From: "LICENSE", To: "."}},
		Bin:   "kubectl-picluster",
	}
	tests := map[string]struct {
		entry   ManifestPlatform
		files   []ArchivedFile
		wantErr string
	}{
		"exact": {entry: entry, files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o755}, {Name: "LICENSE", Mode: 0o644}}},
		"glob": {
			entry: ManifestPlatform{Files: []FileOperation{{From: "*", To: "."}}, Bin: "./kubectl-picluster"},
			files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o755}, {Name: "LICENSE"}},
		},
		"missing file":   {entry: entry, files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o755}}, wantErr: `from "LICENSE": not in the archive`},
		"extra file":     {entry: entry, files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o755}, {Name: "LICENSE"}, {Name: "README"}}, wantErr: "never installs: README"},
		"bin not exec":   {entry: entry, files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o644}, {Name: "LICENSE"}}, wantErr: "not executable"},
		"bin not copied": {entry: ManifestPlatform{Files: entry.Files, Bin: "other"}, files: []ArchivedFile{{Name: "kubectl-picluster", Mode: 0o755}, {Name: "LICENSE"}}, wantErr: `bin "other": not installed`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.entry.CheckArchive(tc.files)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestValidateVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.1.0": true, "v1.2.3-rc.1": true, "v1.2.3+build.5": true,
		"0.1.0": false, "v0.1": false, "latest": false, "": false,
	} {
		err := ValidateVersion(v)
		assert.Equal(t, ok, err == nil, "%q: %v", v, err)
	}
}

func TestParseManifestIsStrict(t *testing.T) {
	_, err := ParseManifest([]byte("apiVersion: x\nkind: Plugin\nspec:\n  platforms:\n  - bin: a\n    uri2: b\n"))
	require.ErrorContains(t, err, "uri2")
}

func TestLDFlags(t *testing.T) {
	assert.Equal(t, "-s -w -X github.com/picluster/kubectl-picluster/pkg/version.Version=v1.0.0 "+
		"-X github.com/picluster/kubectl-picluster/pkg/version.Commit=abc", LDFlags("v1.0.0", "abc"))
}
