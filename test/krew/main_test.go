package krew

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/release"
)

// testVersion is stamped into the test build; a pre-release, as krew must accept those.
const (
	testVersion = "v0.1.0-krewtest.1"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	// envPlatforms limits the platforms built (comma-separated os/arch).
	envPlatforms = "PICLUSTER_RELEASE_PLATFORMS"
)

// workDir holds the one release build of this test run; TestMain removes it.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "picluster-release-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// skipOrFail skips the test locally, and fails it under CI=true (CI never skips).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if proc.InCI() {
		t.Fatalf(format+" (CI=true: tests never skip in CI)", args...)
	}
	t.Skipf(format+"; skipping (CI=true makes this a failure)", args...)
}

var build struct {
	once sync.Once
	res  *release.Result
	dir  string
	err  error
	took time.Duration
	how  string
}

// builtRelease builds the release once for all tests of the package: this machine's
// platform always, from the working tree (it is the archive krew installs and kubectl
// runs); the other platforms from the release cache (cache_test.go) unless the release
// inputs changed. PICLUSTER_RELEASE_PLATFORMS narrows the platforms.
func builtRelease(t *testing.T) (*release.Result, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("cross-compiles the release")
	}
	build.once.Do(func() {
		start := time.Now()
		build.dir = filepath.Join(workDir, "dist")
		var log bytes.Buffer
		build.res, build.how, build.err = buildRelease(context.Background(), repoRoot(t), build.dir, &log)
		build.took = time.Since(start)
		fmt.Fprint(os.Stderr, log.String())
	})
	require.NoError(t, build.err, "build the release")
	t.Logf("release of %d platforms ready in %s (%s)", len(build.res.Artifacts), build.took.Round(time.Second), build.how)
	return build.res, build.dir
}

// buildRelease builds the fresh platforms into dir, puts the cached ones beside them and
// writes checksums.txt and plugins.yaml over all, in the order of the platform list.
func buildRelease(ctx context.Context, root, dir string, log io.Writer) (*release.Result, string, error) {
	platforms, err := release.ParsePlatforms(os.Getenv(envPlatforms))
	if err != nil {
		return nil, "", err
	}
	fresh, cached := splitHost(platforms)
	o := release.Options{
		RepoRoot: root, Version: testVersion, Commit: testCommit, BaseURL: release.DefaultBaseURL(testVersion),
		OutDir: dir, Platforms: fresh, ModTime: time.Unix(1_750_000_000, 0), Log: log,
	}
	res := &release.Result{}
	if len(fresh) > 0 { // empty Platforms would mean all of them
		if res, err = release.Build(ctx, o); err != nil {
			return nil, "", err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("create release dir: %w", err)
	}
	how := fmt.Sprintf("%d built", len(fresh))
	if len(cached) == 0 {
		return res, how, nil
	}
	more, from, err := cachedArtifacts(ctx, o, cached)
	if err != nil {
		return nil, "", err
	}
	arts := res.Artifacts
	for _, a := range more {
		dst := filepath.Join(dir, filepath.Base(a.Path))
		for _, f := range [][2]string{{a.Path, dst}, {a.Path + ".sha256", dst + ".sha256"}} {
			if err := linkOrCopy(f[0], f[1]); err != nil {
				return nil, "", fmt.Errorf("take %s from the release cache: %w", a.Platform, err)
			}
		}
		a.Path = dst
		arts = append(arts, a)
	}
	order := map[release.Platform]int{}
	for i, p := range platforms {
		order[p] = i
	}
	sort.Slice(arts, func(i, j int) bool { return order[arts[i].Platform] < order[arts[j].Platform] })
	res, err = release.Assemble(dir, testVersion, o.BaseURL, arts)
	if err != nil {
		return nil, "", err
	}
	return res, fmt.Sprintf("%s, %d %s", how, len(more), from), nil
}

// splitHost separates this machine's platform (built every run) from the others.
func splitHost(platforms []release.Platform) (host, others []release.Platform) {
	for _, p := range platforms {
		if p.OS == runtime.GOOS && p.Arch == runtime.GOARCH {
			host = append(host, p)
		} else {
			others = append(others, p)
		}
	}
	return host, others
}

// artifact returns the built archive for a platform, or skips/fails when it was not built.
func artifact(t *testing.T, res *release.Result, os, arch string) release.Artifact {
	t.Helper()
	for _, a := range res.Artifacts {
		if a.Platform.OS == os && a.Platform.Arch == arch {
			return a
		}
	}
	skipOrFail(t, "no %s/%s archive built (%s=%q)", os, arch, envPlatforms, getenv(envPlatforms))
	return release.Artifact{}
}

func getenv(k string) string { return os.Getenv(k) }

func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

var krewTools struct {
	once sync.Once
	dir  string
	err  error
}

// krewBin returns the path of krew or validate-krew-manifest, built by
// hack/build-krew.sh from the module proxy (cached by version).
func krewBin(t *testing.T, name string) string {
	t.Helper()
	krewTools.once.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "build-krew.sh"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			krewTools.err = fmt.Errorf("hack/build-krew.sh: %w: %s", err, stderr.String())
			return
		}
		krewTools.dir = strings.TrimSpace(stdout.String())
	})
	if krewTools.err != nil {
		skipOrFail(t, "krew is not available: %v", krewTools.err)
	}
	return filepath.Join(krewTools.dir, name)
}

// kubectlBin is the test bed's pinned kubectl (hack/build-testbed.sh), never whatever
// kubectl happens to be on PATH.
func kubectlBin(t *testing.T) string {
	t.Helper()
	dir, err := testbed.BinDir()
	if err != nil {
		if errors.Is(err, testbed.ErrNotBuilt) {
			skipOrFail(t, "kubectl: %v", err)
		}
		require.NoError(t, err, "locate the test bed's kubectl")
	}
	kubectl := filepath.Join(dir, "bin", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		skipOrFail(t, "kubectl: %v", err)
	}
	return kubectl
}

// run runs a command with exactly env (plus nothing from the test process) and
// returns stdout; a failure reports both streams.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "%s %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String()
}

// krewEnv is a sealed environment for krew and kubectl: a temporary HOME and KREW_ROOT,
// no kubeconfig, no krew self-update check (it would go to the network).
func krewEnv(home, krewRoot string, path ...string) []string {
	return []string{
		"HOME=" + home,
		"KREW_ROOT=" + krewRoot,
		"KREW_NO_UPGRADE_CHECK=1",
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"PATH=" + strings.Join(append(path, "/usr/local/bin", "/usr/bin", "/bin"), string(os.PathListSeparator)),
	}
}
