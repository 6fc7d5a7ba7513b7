package release

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options describe one release build.
type Options struct {
	// RepoRoot is the module root (holds go.mod, LICENSE and the completion script).
	RepoRoot string
	// Version is the tag, semver with a leading v (v0.1.0).
	Version string
	// Commit is stamped into the binary next to the version.
	Commit string
	// BaseURL is where the archives will be downloaded from; DefaultBaseURL(Version) when empty.
	BaseURL string
	// OutDir receives the archives, their .sha256 files, checksums.txt and plugins.yaml.
	OutDir string
	// Platforms to build; DefaultPlatforms() when empty.
	Platforms []Platform
	// ModTime is every archive entry's modification time (reproducible archives).
	ModTime time.Time
	// Go is the go command; "go" when empty.
	Go string
	// Log receives progress; io.Discard when nil.
	Log io.Writer
}

// Artifact is one built archive.
type Artifact struct {
	Platform Platform
	// Path is the archive file.
	Path string
	// SHA256 is the archive's hex sha256.
	SHA256 string
	// BinarySize is the size of the executable inside, in bytes.
	BinarySize int64
}

// Result is what Build produced.
type Result struct {
	Artifacts []Artifact
	// Manifest is the rendered krew manifest, also written to ManifestPath.
	Manifest     []byte
	ManifestPath string
}

// ManifestFile is the manifest's name in OutDir and in the repository.
const ManifestFile = "plugins.yaml"

// Build cross-compiles the plugin for every platform, packs each binary with the
// completion helper and the license, checksums the archives and renders plugins.yaml
// from them.
func Build(ctx context.Context, o Options) (*Result, error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	binDir := filepath.Join(o.OutDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("create release dir: %w", err)
	}
	var artifacts []Artifact
	for _, p := range o.Platforms {
		start := time.Now()
		bin := filepath.Join(binDir, strings.ReplaceAll(p.String(), "/", "_"), p.Binary())
		if err := BuildBinary(ctx, o, p, bin); err != nil {
			return nil, err
		}
		a, err := o.pack(p, bin)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "release: %-14s %6.1f MiB binary  %6.1f MiB %s  (%s)\n", p, mib(a.BinarySize),
			mib(fileSize(a.Path)), filepath.Base(a.Path), time.Since(start).Round(100*time.Millisecond))
		artifacts = append(artifacts, a)
	}
	return Assemble(o.OutDir, o.Version, o.BaseURL, artifacts)
}

// Assemble writes checksums.txt and plugins.yaml into outDir for archives already
// built (by Build, now or in an earlier run): the manifest lists the artifacts in the
// order given, with the sha256 of each archive as it is on disk.
func Assemble(outDir, version, baseURL string, artifacts []Artifact) (*Result, error) {
	if err := WriteChecksums(filepath.Join(outDir, "checksums.txt"), artifacts...); err != nil {
		return nil, err
	}
	manifest, err := GenerateManifest(version, baseURL, artifacts)
	if err != nil {
		return nil, err
	}
	res := &Result{Artifacts: artifacts, Manifest: manifest, ManifestPath: filepath.Join(outDir, ManifestFile)}
	if err := os.WriteFile(res.ManifestPath, manifest, 0o644); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	return res, nil
}

func (o *Options) complete() error {
	if err := ValidateVersion(o.Version); err != nil {
		return err
	}
	if o.Commit == "" {
		return fmt.Errorf("release %s: no commit to stamp", o.Version)
	}
	if o.RepoRoot == "" || o.OutDir == "" {
		return fmt.Errorf("release %s: repository root and output dir are required", o.Version)
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL(o.Version)
	}
	if !strings.HasSuffix(o.BaseURL, "/") {
		o.BaseURL += "/"
	}
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms()
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// LDFlags strips the symbol table and DWARF and stamps version and commit.
func LDFlags(version, commit string) string {
	pkg := ModulePath + "/pkg/version"
	return fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", pkg, version, pkg, commit)
}

// BuildBinary cross-compiles the plugin for p into out: CGO off, -trimpath, no VCS
// stamp (the commit comes from the flags, so the binary depends only on the sources).
func BuildBinary(ctx context.Context, o Options, p Platform, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", LDFlags(o.Version, o.Commit), "-o", out, MainPackage)
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), p.GoEnv()...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for %s: %w: %s", BinaryName, p, err, strings.TrimSpace(string(output)))
	}
	return nil
}

// CompileCheck compiles the plugin, its main package and every package it imports, for
// p with BuildBinary's compile flags, but does not link it (`go list -export`, which
// builds each package's export data and fails on any compile error). It shares the Go
// build cache with BuildBinary, so packages unchanged since the last build for p cost
// nothing; `go vet` would also compute analysis facts for every dependency (measured
// here: 240 s the first time per platform, against 20 s for a whole link).
// o needs RepoRoot (and Go, "go" when empty).
func CompileCheck(ctx context.Context, o Options, p Platform) error {
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "list", "-trimpath", "-export", "-f", "{{.Export}}", MainPackage)
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), p.GoEnv()...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compile %s for %s: %w: %s", BinaryName, p, err, strings.TrimSpace(string(output)))
	}
	return nil
}

func (o *Options) pack(p Platform, bin string) (Artifact, error) {
	a := Artifact{Platform: p, Path: filepath.Join(o.OutDir, p.ArchiveName(o.Version))}
	entries := []Entry{
		{Name: p.Binary(), Source: bin, Mode: 0o755},
		{Name: CompletionScript, Source: filepath.Join(o.RepoRoot, CompletionScriptSource), Mode: 0o755},
		{Name: LicenseFile, Source: filepath.Join(o.RepoRoot, LicenseFile), Mode: 0o644},
	}
	if err := WriteArchive(a.Path, entries, o.ModTime); err != nil {
		return Artifact{}, err
	}
	sha, err := FileSHA256(a.Path)
	if err != nil {
		return Artifact{}, err
	}
	a.SHA256 = sha
	a.BinarySize = fileSize(bin)
	if err := WriteChecksums(a.Path+".sha256", a); err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// GenerateManifest renders plugins.yaml from the krew-release-bot template for the
// artifacts' platforms, taking each sha256 from the archive the URL names, and checks
// that every archive holds what its entry installs and that none is left out.
func GenerateManifest(version, baseURL string, artifacts []Artifact) ([]byte, error) {
	if err := ValidateVersion(version); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	byName := map[string]Artifact{}
	var platforms []Platform
	for _, a := range artifacts {
		byName[filepath.Base(a.Path)] = a
		platforms = append(platforms, a.Platform)
	}
	used := map[string]bool{}
	lookup := func(url string) (string, error) {
		name, ok := strings.CutPrefix(url, baseURL)
		a, found := byName[name]
		if !ok || !found {
			return "", fmt.Errorf("manifest names %s, which is not one of the built archives", url)
		}
		used[name] = true
		return a.SHA256, nil
	}
	rendered, err := RenderTemplate(KrewTemplate(platforms, baseURL), version, lookup)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(rendered)
	if err != nil {
		return nil, err
	}
	if len(used) != len(artifacts) || len(m.Spec.Platforms) != len(artifacts) {
		return nil, fmt.Errorf("manifest lists %d platforms for %d archives", len(m.Spec.Platforms), len(artifacts))
	}
	for _, mp := range m.Spec.Platforms {
		a := byName[strings.TrimPrefix(mp.URI, baseURL)]
		files, err := ListArchive(a.Path)
		if err != nil {
			return nil, err
		}
		if err := mp.CheckArchive(files); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(a.Path), err)
		}
	}
	header := fmt.Sprintf("# krew manifest of %s %s, rendered by hack/release.sh from .krew.yaml and the\n"+
		"# release archives (their sha256). Do not edit: rebuild the release.\n", PluginName, version)
	return append([]byte(header), rendered...), nil
}

// TemplateFile is the krew-release-bot template as committed (.krew.yaml).
func TemplateFile() []byte {
	header := "# krew-release-bot template: on a release the bot renders it with the tag and the\n" +
		"# archives' sha256 into the krew-index manifest. Generated by hack/release.sh; do not edit.\n"
	return []byte(header + KrewTemplate(DefaultPlatforms(), DefaultBaseURL(TagPlaceholder)))
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
