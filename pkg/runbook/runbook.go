// Package runbook lists, shows and runs the runbooks shipped inside the plugin:
// one per alert of the bundle (the target of its runbook_url) and the restore
// runbook.
//
// A runbook is Markdown: front matter (alert, severity, components, and labels:
// the defaults of the labels its steps use, templates over the settings), a
// title, then the sections Meaning, Impact, Diagnosis and Mitigation. It reads
// as plain documentation; its executable steps are fenced blocks whose info
// string names the kind and its attributes:
//
//	```promql title="jobs in progress now" problem="> 500"
//	sum(immich_queues_thumbnail_generation_active{namespace="{{ .Labels.namespace }}"})
//	```
//	```picluster title="backup status"
//	kubectl picluster backup status
//	```
//	```kubectl title="last log lines"
//	kubectl -n {{ .Labels.namespace }} logs deployment/immich-server --tail 40
//	```
//	```kubectl mutating title="restart the server"
//	kubectl -n {{ .Labels.namespace }} rollout restart deployment/immich-server
//	```
//
// Kinds: picluster (one `kubectl picluster ...` command, run in-process through
// a fresh root command with the same global flags; exit 1 of the command means
// the problem is still present), kubectl (one `kubectl ...` command, run
// in-process through the same kubeconfig, so kubectl need not be installed:
// the read verbs get and logs with a subset of their flags, and the mutation
// `rollout restart`), promql (one instant query through the plugin's Prometheus
// client). Attributes: title="..." (what the step finds out), problem="COND"
// on promql (a sample whose value meets "> N", ">= N", "< N", "<= N", "== N" or
// "!= N", or "any" sample, or "none", means the problem is present), mutating
// (the step changes something: asked first showing the exact command, skipped
// with --read-only, run with --yes; only in Mitigation). A command is one line
// (a trailing backslash continues it) without pipes, redirections or
// substitutions. Any other fenced block (```sh) is shown, never run.
//
// Block contents and attributes are text/template templates over Data:
// {{ .Labels.x }} (the runbook's default labels, overridden by the firing
// alert's, overridden by --alert-labels) and {{ .Settings... }}, with the
// functions selector (a label map as k=v,k2=v2) and slowRequestThreshold. A
// step that needs a label nobody gave is skipped with a hint, not failed.
//
// Run checks every step before the first runs (a bad step is a runbook error,
// exit 2); then the report's exit code is 2 when a step errored, 1 when a step
// found the problem still present, else 0.
//
// Names: an alert name in any case, with or without .md, or a runbook_url
// (<runbooks.baseURL>/<Alert>.md: the last path element names the runbook).
package runbook

import (
	"bufio"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/picluster/kubectl-picluster/runbooks"
)

// Runbook describes one bundled runbook.
type Runbook struct {
	// Name is what `runbook show` takes: the alert name, or "restore".
	Name string `json:"name"`
	// Title is the runbook's first heading.
	Title string `json:"title"`
	// Alert is the alert it is for (empty for a procedure).
	Alert string `json:"alert,omitempty"`
	// Severity is the alert's severity.
	Severity string `json:"severity,omitempty"`
}

// NotFoundError is returned by Show for a name no runbook has.
type NotFoundError struct {
	// Name is the name asked for.
	Name string
	// Known are every runbook's names.
	Known []string
	// Nearest are the known names closest to Name (empty when none is close).
	Nearest []string
}

func (e *NotFoundError) Error() string {
	if len(e.Nearest) > 0 {
		return fmt.Sprintf("no runbook named %q: did you mean %s? (kubectl picluster runbook list shows them all)", e.Name, strings.Join(e.Nearest, " or "))
	}
	return fmt.Sprintf("no runbook named %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// List returns every bundled runbook, sorted by name.
func List() ([]Runbook, error) {
	files, err := fs.Glob(runbooks.FS, "*.md")
	if err != nil {
		return nil, fmt.Errorf("list runbooks: %w", err)
	}
	out := make([]Runbook, 0, len(files))
	for _, f := range files {
		text, err := fs.ReadFile(runbooks.FS, f)
		if err != nil {
			return nil, fmt.Errorf("read runbook %s: %w", f, err)
		}
		name := strings.TrimSuffix(path.Base(f), ".md")
		d, err := Parse(name, string(text))
		if err != nil {
			return nil, err
		}
		out = append(out, Runbook{Name: name, Title: d.Title, Alert: d.Front.Alert, Severity: d.Front.Severity})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Names returns the names of every bundled runbook, sorted (for completion).
func Names() []string {
	list, _ := List() // the embedded files are known to be readable
	names := make([]string, len(list))
	for i, r := range list {
		names[i] = r.Name
	}
	return names
}

// Resolve returns the runbook name that name means: an alert name or "restore",
// in any case, with or without ".md", or a runbook_url of the bundle
// (<runbooks.baseURL>/<Alert>.md: its last path element names the runbook, so
// any base URL resolves). An unknown name is a *NotFoundError with the nearest names.
func Resolve(name string) (string, error) {
	want := strings.TrimSpace(name)
	if strings.Contains(want, "://") {
		if u, err := url.Parse(want); err == nil {
			want = path.Base(u.Path)
		}
	}
	want = strings.TrimSuffix(want, ".md")
	known := Names()
	for _, n := range known {
		if strings.EqualFold(n, want) {
			return n, nil
		}
	}
	return "", &NotFoundError{Name: name, Known: known, Nearest: nearest(want, known)}
}

// Show returns a runbook's Markdown, as Resolve finds it.
func Show(name string) (string, error) {
	n, err := Resolve(name)
	if err != nil {
		return "", err
	}
	b, err := fs.ReadFile(runbooks.FS, n+".md")
	if err != nil {
		return "", fmt.Errorf("read runbook %s: %w", n, err)
	}
	return string(b), nil
}

// Load returns a runbook parsed, as Resolve finds it.
func Load(name string) (*Doc, error) {
	n, err := Resolve(name)
	if err != nil {
		return nil, err
	}
	text, err := Show(n)
	if err != nil {
		return nil, err
	}
	return Parse(n, text)
}

// nearest returns the known names within a small edit distance of name
// (case-insensitive), closest first; a name that contains or is contained in
// a known one counts as close.
func nearest(name string, known []string) []string {
	type cand struct {
		name string
		d    int
	}
	var cands []cand
	lower := strings.ToLower(name)
	for _, k := range known {
		kl := strings.ToLower(k)
		d := levenshtein(lower, kl)
		if lower != "" && (strings.Contains(kl, lower) || strings.Contains(lower, kl)) {
			d = min(d, 1)
		}
		if d <= max(2, len(k)/4) {
			cands = append(cands, cand{k, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].d < cands[j].d })
	var out []string
	for i, c := range cands {
		if i == 3 {
			break
		}
		out = append(out, c.name)
	}
	return out
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Sections returns the level-two headings of a runbook, in order.
func Sections(markdown string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(markdown))
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "## "); ok {
			out = append(out, strings.TrimSpace(h))
		}
	}
	return out
}
