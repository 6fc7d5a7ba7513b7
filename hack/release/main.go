// Command release builds the plugin's release: one archive per platform (binary,
// kubectl_complete-picluster, LICENSE), a .sha256 beside each, checksums.txt, and the
// krew manifest rendered from those archives. Run it through hack/release.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "release tag, semver with a leading v (required), e.g. v0.1.0")
	ref := fs.String("ref", "HEAD", "git commit to build, from a clean export of it; empty: the working tree as it is")
	commit := fs.String("commit", "", "commit to stamp (default: -ref's commit; with -ref= HEAD, -dirty when tracked files changed)")
	baseURL := fs.String("base-url", "", "download URL the archives will live under (default: the GitHub release of the tag)")
	out := fs.String("out", "dist", "output folder for archives, checksums and plugins.yaml")
	platforms := fs.String("platforms", "", "comma-separated os/arch list (default: all: "+platformList()+")")
	manifest := fs.String("manifest", release.ManifestFile, "also copy the manifest here (empty: don't)")
	template := fs.String("krew-template", ".krew.yaml", "write the krew-release-bot template here (empty: don't)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	plats, err := release.ParsePlatforms(*platforms)
	if err != nil {
		return err
	}
	rev := *ref
	if rev == "" {
		rev = "HEAD"
	}
	if *commit == "" {
		if *commit, err = gitCommit(ctx, rev, *ref == ""); err != nil {
			return err
		}
	}
	mtime, err := sourceDate(ctx, rev)
	if err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("find repository root: %w", err)
	}
	if *ref != "" {
		// Build exactly the commit: a shared or dirty working tree never leaks in.
		src, err := exportTree(ctx, *ref)
		if err != nil {
			return err
		}
		defer os.RemoveAll(src)
		root = src
	}
	if *out != "" {
		if err := os.RemoveAll(*out); err != nil {
			return fmt.Errorf("clean %s: %w", *out, err)
		}
		if *out, err = filepath.Abs(*out); err != nil {
			return fmt.Errorf("output dir: %w", err)
		}
	}
	res, err := release.Build(ctx, release.Options{
		RepoRoot: root, Version: *version, Commit: *commit, BaseURL: *baseURL,
		OutDir: *out, Platforms: plats, ModTime: mtime, Log: stderr,
	})
	if err != nil {
		return err
	}
	if *manifest != "" {
		if err := os.WriteFile(*manifest, res.Manifest, 0o644); err != nil {
			return fmt.Errorf("copy manifest: %w", err)
		}
	}
	if *template != "" {
		if err := os.WriteFile(*template, release.TemplateFile(), 0o644); err != nil {
			return fmt.Errorf("write krew template: %w", err)
		}
	}
	for _, a := range res.Artifacts {
		fmt.Fprintf(stdout, "%s  %s\n", a.SHA256, filepath.Join(*out, filepath.Base(a.Path)))
	}
	fmt.Fprintln(stdout, res.ManifestPath)
	return nil
}

func platformList() string {
	var s []string
	for _, p := range release.DefaultPlatforms() {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// gitCommit resolves rev; for a working-tree build it is marked -dirty when tracked
// files differ from it.
func gitCommit(ctx context.Context, rev string, workTree bool) (string, error) {
	commit, err := git(ctx, "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return "", err
	}
	if !workTree {
		return commit, nil
	}
	status, err := git(ctx, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", err
	}
	if status != "" {
		commit += "-dirty"
	}
	return commit, nil
}

// exportTree writes the files of rev into a new temporary folder.
func exportTree(ctx context.Context, rev string) (string, error) {
	dir, err := os.MkdirTemp("", "picluster-release-src-")
	if err != nil {
		return "", fmt.Errorf("export %s: %w", rev, err)
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err == nil {
		extract.Stdin = pipe
		var stderr strings.Builder
		archive.Stderr, extract.Stderr = &stderr, &stderr
		if err = archive.Start(); err == nil {
			err = extract.Run()
			if werr := archive.Wait(); err == nil {
				err = werr
			}
		}
		if err != nil {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("export %s with git archive: %w", rev, err)
	}
	return dir, nil
}

// sourceDate is $SOURCE_DATE_EPOCH, else rev's commit time: the archives' file dates,
// so rebuilding a commit gives the same archives.
func sourceDate(ctx context.Context, rev string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(ctx, "log", "-1", "--format=%ct", rev); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source date %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
