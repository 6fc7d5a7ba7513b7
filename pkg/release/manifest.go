package release

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

// Krew's manifest API, as read by krew v0.4 (sigs.k8s.io/krew/pkg/index).
const (
	// KrewAPIVersion is the manifest apiVersion krew accepts.
	KrewAPIVersion = "krew.googlecontainertools.github.com/v1alpha2"
	// KrewKind is the manifest kind.
	KrewKind = "Plugin"
)

// Manifest is a krew plugin manifest (plugins.yaml).
type Manifest struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Metadata     `json:"metadata"`
	Spec       ManifestSpec `json:"spec"`
}

// Metadata holds the plugin's name.
type Metadata struct {
	Name string `json:"name"`
}

// ManifestSpec is the plugin's version, texts and platforms.
type ManifestSpec struct {
	Version          string             `json:"version"`
	Homepage         string             `json:"homepage,omitempty"`
	ShortDescription string             `json:"shortDescription"`
	Description      string             `json:"description,omitempty"`
	Caveats          string             `json:"caveats,omitempty"`
	Platforms        []ManifestPlatform `json:"platforms"`
}

// ManifestPlatform is one archive: which os/arch it serves, where it is, what to install.
type ManifestPlatform struct {
	Selector Selector        `json:"selector"`
	URI      string          `json:"uri"`
	SHA256   string          `json:"sha256"`
	Files    []FileOperation `json:"files"`
	Bin      string          `json:"bin"`
}

// Selector is the label selector on krew's "os" and "arch" labels.
type Selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// FileOperation copies From (a glob in the archive) to To (in the install folder).
type FileOperation struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ParseManifest reads a manifest strictly: an unknown field is an error.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("parse krew manifest: %w", err)
	}
	return &m, nil
}

// ReadManifest reads and parses a manifest file.
func ReadManifest(file string) (*Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read krew manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// ValidateVersion checks a release version the way krew does: semver with a "v".
func ValidateVersion(v string) error {
	if !strings.HasPrefix(v, "v") {
		return fmt.Errorf("version %q: want semver with a leading v, like v0.1.0", v)
	}
	if _, err := version.ParseSemantic(v); err != nil {
		return fmt.Errorf("version %q: %w", v, err)
	}
	return nil
}

// Platform finds the manifest entry selecting os/arch.
func (m *Manifest) Platform(os, arch string) (ManifestPlatform, bool) {
	for _, p := range m.Spec.Platforms {
		if p.Selector.MatchLabels["os"] == os && p.Selector.MatchLabels["arch"] == arch {
			return p, true
		}
	}
	return ManifestPlatform{}, false
}

// CheckArchive checks that an archive holds exactly what a manifest entry installs:
// every files[].from, the bin among the copied files and executable, nothing else.
func (p ManifestPlatform) CheckArchive(files []ArchivedFile) error {
	byName := map[string]ArchivedFile{}
	for _, f := range files {
		byName[f.Name] = f
	}
	used := map[string]bool{}
	installed := map[string]ArchivedFile{}
	for _, op := range p.Files {
		matched := false
		for name, f := range byName {
			ok, err := path.Match(op.From, name)
			if err != nil {
				return fmt.Errorf("files from %q: %w", op.From, err)
			}
			if ok {
				matched, used[name] = true, true
				installed[path.Join(op.To, path.Base(name))] = f
			}
		}
		if !matched {
			return fmt.Errorf("files from %q: not in the archive (it has %s)", op.From, names(files))
		}
	}
	var unused []string
	for name := range byName {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return fmt.Errorf("archive has files the manifest never installs: %s", strings.Join(unused, ", "))
	}
	bin, ok := installed[path.Clean(p.Bin)]
	if !ok {
		return fmt.Errorf("bin %q: not installed by files", p.Bin)
	}
	if bin.Mode&0o111 == 0 {
		return fmt.Errorf("bin %q: not executable (mode %s)", p.Bin, bin.Mode)
	}
	return nil
}

func names(files []ArchivedFile) string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return strings.Join(out, ", ")
}
