package release

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Texts of the manifest. The short description is one line (krew refuses line breaks).
const (
	shortDescription = "Check, alert on and back up a home k3s cluster"
	description      = `kubectl picluster turns the runbook of a home k3s cluster (Immich,
kube-prometheus-stack via Flux, Alertmanager to Discord, External Secrets,
Postgres backups to a NAS over rsync/ssh) into commands:
install the monitoring and backup manifests with server-side apply,
check scrape targets, rules, Watchdog and backups (also from cron, with
Prometheus textfile output), manage silences and maintenance windows,
send test alerts, run and verify backups, and guide a Postgres restore.
Prometheus and Alertmanager are reached through the API server's service
proxy, so a kubeconfig is all it needs.`
)

// DefaultBaseURL is where a tag's archives are downloaded from: the GitHub release.
func DefaultBaseURL(tag string) string {
	return Homepage + "/releases/download/" + tag + "/"
}

// CompletionInstallCommand is the shell line, printed in the manifest's caveats, that
// puts the completion helper on PATH next to krew's links. A copy, not a link: the
// script only runs kubectl-picluster from PATH, so it outlives the version's folder,
// which `krew upgrade` removes.
func CompletionInstallCommand(version string) string {
	return fmt.Sprintf(`cp "${KREW_ROOT:-$HOME/.krew}/store/%s/%s/%s" "${KREW_ROOT:-$HOME/.krew}/bin/"`,
		PluginName, version, CompletionScript)
}

func caveats(version string) string {
	return `kubectl picluster uses your current kubeconfig context and reads its
settings from $XDG_CONFIG_HOME/picluster/config.yaml (~/.config/...):
see ` + "`kubectl picluster config view`" + `.

Completion of ` + "`kubectl picluster ...`" + ` (kubectl 1.26 or newer, with
kubectl's own completion enabled): put the helper on PATH once with
  ` + CompletionInstallCommand(version) + `
(a POSIX sh script; on Windows use it from Git Bash or WSL).
It only runs ` + "`kubectl-picluster __complete`" + `, so it survives upgrades.
Completion for kubectl-picluster itself: kubectl picluster completion bash|zsh|fish`
}

// KrewTemplate is the krew-release-bot template (.krew.yaml) for the platforms, with
// archives downloaded from baseURL, which may hold TagPlaceholder. The committed
// .krew.yaml is KrewTemplate(DefaultPlatforms(), DefaultBaseURL(TagPlaceholder)).
func KrewTemplate(platforms []Platform, baseURL string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("apiVersion: krew.googlecontainertools.github.com/v1alpha2")
	w("kind: Plugin")
	w("metadata:")
	w("  name: %s", PluginName)
	w("spec:")
	w("  version: %s", TagPlaceholder)
	w("  homepage: %s", Homepage)
	w("  shortDescription: %s", shortDescription)
	w("  description: |")
	w("%s", indentLines(description, "    "))
	w("  caveats: |")
	w("%s", indentLines(caveats(TagPlaceholder), "    "))
	w("  platforms:")
	for _, p := range platforms {
		w("  - selector:")
		w("      matchLabels:")
		w("        os: %s", p.OS)
		w("        arch: %s", p.Arch)
		// addURIAndSha prints "uri: ...\n    sha256: ...": it must sit at 4 spaces.
		w(`    {{addURIAndSha "%s%s" .TagName }}`, baseURL, p.ArchiveName(TagPlaceholder))
		w("    files:")
		for _, f := range p.Files() {
			w("    - from: %s", f)
			w(`      to: "."`)
		}
		w("    bin: %s", p.Binary())
	}
	return b.String()
}

func indentLines(s, pad string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// SHALookup gives the sha256 of the archive a rendered download URL names.
type SHALookup func(url string) (string, error)

// RenderTemplate renders a krew-release-bot template the way the bot does: the
// template gets .TagName (and .Version without the "v"); addURIAndSha renders its URL
// argument as a template, then prints "uri: URL" and, on the next line at four spaces,
// "sha256: SHA"; indent re-indents a block.
func RenderTemplate(tmpl, tag string, lookup SHALookup) ([]byte, error) {
	values := struct{ TagName, Version string }{TagName: tag, Version: versionFromTag(tag)}
	var lookupErr error
	funcs := template.FuncMap{
		"indent": func(spaces int, v string) string {
			v = strings.ReplaceAll(v, "    sha256:", "sha256:")
			pad := strings.Repeat(" ", spaces)
			return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
		},
		"addURIAndSha": func(urlTmpl, tag string) (string, error) {
			t, err := template.New("url").Parse(urlTmpl)
			if err != nil {
				return "", fmt.Errorf("parse url %q: %w", urlTmpl, err)
			}
			var url bytes.Buffer
			if err := t.Execute(&url, struct{ TagName, Version string }{tag, versionFromTag(tag)}); err != nil {
				return "", fmt.Errorf("render url %q: %w", urlTmpl, err)
			}
			sha, err := lookup(url.String())
			if err != nil {
				lookupErr = err
				return "", err
			}
			return fmt.Sprintf("uri: %s\n    sha256: %s", url.String(), sha), nil
		},
	}
	t, err := template.New(".krew.yaml").Funcs(funcs).Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("parse krew template: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, values); err != nil {
		if lookupErr != nil {
			return nil, fmt.Errorf("render krew template: %w", lookupErr)
		}
		return nil, fmt.Errorf("render krew template: %w", err)
	}
	return out.Bytes(), nil
}

var versionRe = regexp.MustCompile(`\d+(\.\d+)+`)

func versionFromTag(tag string) string {
	if v := versionRe.FindString(tag); v != "" {
		return v
	}
	return tag
}
