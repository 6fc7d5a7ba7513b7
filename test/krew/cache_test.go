package krew

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/release"
)

// The archives of the platforms this machine cannot run are built only when what goes
// into a release changes, and otherwise taken from a cache outside the clone:
//
//	${PICLUSTER_CACHE:-~/.cache/picluster}/release/<key>/   archives and their .sha256
//
// <key> hashes the release inputs (releaseInputs, the Go toolchain, the test's version,
// commit and platforms). The rest of the source (pkg/...) is left out of the key on
// purpose: it changes with nearly every commit, and what these tests check of the other
// platforms' archives (format, CPU, stripping, stamps, files, checksums, krew install)
// depends on the release code, not on the plugin's code. That the current code still
// compiles for them is checked on every run by release.CompileCheck instead.

// releaseInputs are the files and folders whose change rebuilds the cached archives.
var releaseInputs = []string{
	"go.mod", "go.sum", "LICENSE", ".krew.yaml",
	"cmd", "pkg/release", "hack/release", "hack/release.sh",
	"hack/build-krew.sh", "hack/krew/go.mod", "hack/krew/go.sum",
}

// keepKeys is how many cached keys survive (the most recently used): worktrees of
// different branches on one machine may want different keys at the same time.
const keepKeys = 3

// cacheRoot is where the release cache lives.
func cacheRoot() (string, error) {
	if c := os.Getenv("PICLUSTER_CACHE"); c != "" {
		return filepath.Join(c, "release"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the release cache: %w", err)
	}
	return filepath.Join(home, ".cache", "picluster", "release"), nil
}

// releaseKey hashes every release input (path and content), the Go toolchain and
// settings that change the build, and what the test stamps and builds.
func releaseKey(ctx context.Context, root string, platforms []release.Platform) (string, error) {
	h := sha256.New()
	goEnv, err := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOFLAGS", "GOEXPERIMENT").Output()
	if err != nil {
		return "", fmt.Errorf("read the go toolchain's version: %w", err)
	}
	fmt.Fprintf(h, "go %s\nversion %s commit %s modtime 1750000000\n", goEnv, testVersion, testCommit)
	for _, p := range platforms {
		fmt.Fprintf(h, "platform %s\n", p)
	}
	for _, in := range releaseInputs {
		err := filepath.WalkDir(filepath.Join(root, in), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "file %s %d\n", filepath.ToSlash(rel), fileSizeOf(d))
			_, err = io.Copy(h, f)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("hash release input %s: %w", in, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func fileSizeOf(d fs.DirEntry) int64 {
	info, err := d.Info()
	if err != nil {
		return -1
	}
	return info.Size()
}

// cachedArtifacts returns the archives of platforms for o's version: from the cache
// when their key is there (after compile-checking the current code for each platform),
// else built now with release.Build and stored under the key. It reports which.
func cachedArtifacts(ctx context.Context, o release.Options, platforms []release.Platform) ([]release.Artifact, string, error) {
	key, err := releaseKey(ctx, o.RepoRoot, platforms)
	if err != nil {
		return nil, "", err
	}
	root, err := cacheRoot()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(root, key)
	if arts, err := readCached(dir, o.Version, platforms); err == nil {
		start := time.Now()
		for _, p := range platforms {
			if err := release.CompileCheck(ctx, o, p); err != nil {
				return nil, "", err
			}
		}
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // most recently used: pruned last
		return arts, fmt.Sprintf("from the cache %s, compile-checked (go list -export) in %s", dir, time.Since(start).Round(100*time.Millisecond)), nil
	}

	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", fmt.Errorf("create the release cache: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-")
	if err != nil {
		return nil, "", fmt.Errorf("create the release cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	o.OutDir, o.Platforms = tmp, platforms
	if _, err := release.Build(ctx, o); err != nil {
		return nil, "", err
	}
	// Keep only the archives and their .sha256: the binaries are inside the archives.
	for _, extra := range []string{"bin", "checksums.txt", release.ManifestFile} {
		if err := os.RemoveAll(filepath.Join(tmp, extra)); err != nil {
			return nil, "", fmt.Errorf("trim the release cache: %w", err)
		}
	}
	// Atomic: a concurrent run (another worktree) either sees the whole key or none;
	// if one got there first, its archives are the same bytes (reproducible builds).
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) { // ErrExist: EEXIST or ENOTEMPTY
		return nil, "", fmt.Errorf("store the release cache: %w", err)
	}
	prune(root, key)
	arts, err := readCached(dir, o.Version, platforms)
	if err != nil {
		return nil, "", err
	}
	return arts, "built and stored in the cache " + dir, nil
}

// readCached returns the cached archives of platforms, each checked against its .sha256.
func readCached(dir, version string, platforms []release.Platform) ([]release.Artifact, error) {
	var arts []release.Artifact
	for _, p := range platforms {
		path := filepath.Join(dir, p.ArchiveName(version))
		side, err := os.ReadFile(path + ".sha256")
		if err != nil {
			return nil, err
		}
		want, _, _ := strings.Cut(string(side), " ")
		got, err := release.FileSHA256(path)
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("cached %s: sha256 %s, its .sha256 says %s", path, got, want)
		}
		arts = append(arts, release.Artifact{Platform: p, Path: path, SHA256: got})
	}
	return arts, nil
}

// prune removes all but the keepKeys most recently used keys (never keep), and
// temporary dirs of runs killed a day ago.
func prune(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type used struct {
		name string
		at   time.Time
	}
	var keys []used
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || e.Name() == keep {
			continue
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if time.Since(info.ModTime()) > 24*time.Hour { // left by a killed run
				_ = os.RemoveAll(filepath.Join(root, e.Name()))
			}
			continue
		}
		keys = append(keys, used{e.Name(), info.ModTime()})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].at.After(keys[j].at) })
	for i, k := range keys {
		if i >= keepKeys-1 {
			_ = os.RemoveAll(filepath.Join(root, k.name))
		}
	}
}

// linkOrCopy puts src at dst: a hard link when both are on one file system, else a copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
