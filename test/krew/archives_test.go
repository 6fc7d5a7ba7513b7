package krew

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/release"
)

// TestArchivesMatchManifest checks every archive against its manifest entry: the
// sha256, exactly the files the entry installs, the helper script and LICENSE as in
// the repository, and a binary for the right OS and CPU built the release way.
func TestArchivesMatchManifest(t *testing.T) {
	res, dir := builtRelease(t)
	m, err := release.ReadManifest(res.ManifestPath)
	require.NoError(t, err)
	require.Len(t, m.Spec.Platforms, len(res.Artifacts))

	script, err := os.ReadFile(filepath.Join(repoRoot(t), release.CompletionScriptSource))
	require.NoError(t, err)
	license, err := os.ReadFile(filepath.Join(repoRoot(t), release.LicenseFile))
	require.NoError(t, err)
	sums, err := os.ReadFile(filepath.Join(dir, "checksums.txt"))
	require.NoError(t, err)

	for _, a := range res.Artifacts {
		t.Run(a.Platform.String(), func(t *testing.T) {
			entry, ok := m.Platform(a.Platform.OS, a.Platform.Arch)
			require.True(t, ok, "manifest has no entry for %s", a.Platform)
			assert.Equal(t, release.DefaultBaseURL(testVersion)+filepath.Base(a.Path), entry.URI)

			sha, err := release.FileSHA256(a.Path)
			require.NoError(t, err)
			assert.Equal(t, sha, entry.SHA256, "manifest sha256")
			assert.Contains(t, string(sums), sha+"  "+filepath.Base(a.Path)+"\n", "checksums.txt")
			side, err := os.ReadFile(a.Path + ".sha256")
			require.NoError(t, err)
			assert.Equal(t, sha+"  "+filepath.Base(a.Path)+"\n", string(side), ".sha256 beside the archive")

			files, err := release.ListArchive(a.Path)
			require.NoError(t, err)
			require.NoError(t, entry.CheckArchive(files), "archive vs manifest files/bin")
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
			}
			assert.Equal(t, a.Platform.Files(), names)

			got, err := release.ReadArchivedFile(a.Path, release.CompletionScript)
			require.NoError(t, err)
			assert.Equal(t, script, got, "completion helper as in the repository")
			got, err = release.ReadArchivedFile(a.Path, release.LicenseFile)
			require.NoError(t, err)
			assert.Equal(t, license, got, "LICENSE as in the repository")

			bin, err := release.ReadArchivedFile(a.Path, entry.Bin)
			require.NoError(t, err)
			binFile := filepath.Join(t.TempDir(), entry.Bin)
			require.NoError(t, os.WriteFile(binFile, bin, 0o755))
			checkExecutable(t, binFile, a.Platform)
			checkBuildInfo(t, binFile, a.Platform)
			t.Logf("%s: binary %.1f MiB, archive %.1f MiB", a.Platform, mib(int64(len(bin))), mib(fileSize(t, a.Path)))
		})
	}
}

// checkExecutable reads the executable's headers: the OS's format, the CPU, and no
// symbol table or DWARF (-s -w).
func checkExecutable(t *testing.T, path string, p release.Platform) {
	t.Helper()
	var dwarfErr error
	switch p.OS {
	case "linux":
		f, err := elf.Open(path)
		require.NoError(t, err, "an ELF executable")
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}[p.Arch]
		assert.Equal(t, want, f.Machine)
		_, err = f.Symbols()
		assert.ErrorIs(t, err, elf.ErrNoSymbols, "symbol table stripped (-s)")
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		assert.Empty(t, libs, "static: CGO off")
		_, dwarfErr = f.DWARF()
	case "darwin":
		f, err := macho.Open(path)
		require.NoError(t, err, "a Mach-O executable")
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.Arch]
		assert.Equal(t, want, f.Cpu)
		_, dwarfErr = f.DWARF()
	case "windows":
		f, err := pe.Open(path)
		require.NoError(t, err, "a PE executable")
		defer f.Close()
		assert.Equal(t, uint16(pe.IMAGE_FILE_MACHINE_AMD64), f.Machine)
		_, dwarfErr = f.DWARF()
	default:
		t.Fatalf("no format check for %s", p)
	}
	assert.Error(t, dwarfErr, "no DWARF (-w)")
}

// checkBuildInfo reads what the Go linker recorded: target, CGO off, -trimpath; and
// finds the version and commit stamped by -ldflags (which -trimpath keeps out of the
// recorded settings).
func checkBuildInfo(t *testing.T, path string, p release.Platform) {
	t.Helper()
	bi, err := buildinfo.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, release.ModulePath+"/cmd/kubectl-picluster", bi.Path)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, p.OS, settings["GOOS"])
	assert.Equal(t, p.Arch, settings["GOARCH"])
	if p.ARM != "" {
		assert.True(t, strings.HasPrefix(settings["GOARM"], p.ARM), "GOARM=%s", settings["GOARM"])
	}
	assert.Equal(t, "0", settings["CGO_ENABLED"])
	assert.Equal(t, "true", settings["-trimpath"])
	assert.NotContains(t, settings, "vcs.revision", "no VCS stamp: the commit comes from -ldflags")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Contains(data, []byte(testVersion)), "version stamped")
	assert.True(t, bytes.Contains(data, []byte(testCommit)), "commit stamped")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
