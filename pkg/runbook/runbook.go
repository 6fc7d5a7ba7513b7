// Package runbook lists and shows the runbooks shipped inside the plugin: one per
// alert of the bundle (the target of its runbook_url) and the restore runbook.
package runbook

import (
	"bufio"
	"fmt"
	"io/fs"
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
}

// NotFoundError is returned by Show for a name no runbook has.
type NotFoundError struct {
	Name  string
	Known []string
}

func (e *NotFoundError) Error() string {
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
		out = append(out, Runbook{Name: strings.TrimSuffix(path.Base(f), ".md"), Title: title(string(text))})
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

// Show returns a runbook's Markdown. The name is an alert name or "restore"; case
// does not matter and a trailing ".md" is accepted, so a runbook_url's last path
// element works too. An unknown name is a *NotFoundError.
func Show(name string) (string, error) {
	want := strings.TrimSuffix(strings.TrimSpace(name), ".md")
	for _, n := range Names() {
		if strings.EqualFold(n, want) {
			b, err := fs.ReadFile(runbooks.FS, n+".md")
			if err != nil {
				return "", fmt.Errorf("read runbook %s: %w", n, err)
			}
			return string(b), nil
		}
	}
	return "", &NotFoundError{Name: name, Known: Names()}
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

func title(markdown string) string {
	sc := bufio.NewScanner(strings.NewReader(markdown))
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			return strings.TrimSpace(h)
		}
	}
	return ""
}
