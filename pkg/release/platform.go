// Package release builds the plugin's release archives and the krew manifest that
// describes them. The manifest is rendered from the same krew-release-bot template
// that is committed as .krew.yaml, with the sha256 of the archives just built, so the
// manifest can never name a file, a platform or a checksum the archives do not have.
package release

import (
	"fmt"
	"regexp"
	"strings"
)

// Names shared by the archives, the manifest and the README.
const (
	// PluginName is the krew plugin name: `kubectl krew install picluster`.
	PluginName = "picluster"
	// BinaryName is the executable kubectl discovers on PATH.
	BinaryName = "kubectl-picluster"
	// CompletionScript is the helper kubectl >= 1.26 runs to complete `kubectl picluster`.
	CompletionScript = "kubectl_complete-picluster"
	// LicenseFile is shipped in every archive; krew's validation looks for it.
	LicenseFile = "LICENSE"
	// ModulePath is the Go module the binary is built from.
	ModulePath = "github.com/picluster/kubectl-picluster"
	// MainPackage is the plugin's main package, relative to the module root.
	MainPackage = "./cmd/kubectl-picluster"
	// CompletionScriptSource is the helper script's path in the repository.
	CompletionScriptSource = "cmd/kubectl-picluster/" + CompletionScript
	// Homepage is the project's page; krew-release-bot uses it to prove ownership.
	Homepage = "https://github.com/picluster/kubectl-picluster"
	// TagPlaceholder is how krew-release-bot's template names the release tag.
	TagPlaceholder = "{{ .TagName }}"
)

// Platform is one GOOS/GOARCH (and GOARM for 32-bit arm) the release is built for.
type Platform struct {
	OS   string
	Arch string
	// ARM is GOARM for Arch "arm" ("7": Raspberry Pi 2 and later in 32-bit mode).
	ARM string
}

// DefaultPlatforms are the release's platforms: the Pis (arm64, older ones arm v7), the
// operator's Mac (arm64 and Intel), Linux and Windows workstations.
func DefaultPlatforms() []Platform {
	return []Platform{
		{OS: "linux", Arch: "amd64"},
		{OS: "linux", Arch: "arm64"},
		{OS: "linux", Arch: "arm", ARM: "7"},
		{OS: "darwin", Arch: "amd64"},
		{OS: "darwin", Arch: "arm64"},
		{OS: "windows", Arch: "amd64"},
	}
}

var platformRe = regexp.MustCompile(`^([a-z0-9]+)/([a-z0-9]+)(?:/v([5-7]))?$`)

// ParsePlatform reads "os/arch" or "linux/arm/v7". Plain "linux/arm" means v7.
func ParsePlatform(s string) (Platform, error) {
	m := platformRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Platform{}, fmt.Errorf("parse platform %q: want os/arch or linux/arm/v7", s)
	}
	p := Platform{OS: m[1], Arch: m[2], ARM: m[3]}
	switch {
	case p.Arch == "arm" && p.ARM == "":
		p.ARM = "7"
	case p.Arch != "arm" && p.ARM != "":
		return Platform{}, fmt.Errorf("parse platform %q: an arm version only fits arch arm", s)
	}
	return p, nil
}

// ParsePlatforms reads a comma-separated list; empty means DefaultPlatforms.
func ParsePlatforms(s string) ([]Platform, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultPlatforms(), nil
	}
	var out []Platform
	seen := map[Platform]bool{}
	for _, part := range strings.Split(s, ",") {
		p, err := ParsePlatform(part)
		if err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, fmt.Errorf("platform %s given twice", p)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// String is "os/arch" or "linux/arm/v7".
func (p Platform) String() string {
	if p.ARM != "" {
		return p.OS + "/" + p.Arch + "/v" + p.ARM
	}
	return p.OS + "/" + p.Arch
}

// Windows tells whether the platform gets a .exe and a zip archive.
func (p Platform) Windows() bool { return p.OS == "windows" }

// Binary is the executable's file name inside the archive.
func (p Platform) Binary() string {
	if p.Windows() {
		return BinaryName + ".exe"
	}
	return BinaryName
}

// ArchiveExt is ".zip" for Windows and ".tar.gz" elsewhere.
func (p Platform) ArchiveExt() string {
	if p.Windows() {
		return ".zip"
	}
	return ".tar.gz"
}

// ArchiveName is the archive's file name for a version (or TagPlaceholder), e.g.
// kubectl-picluster_v0.1.0_linux_armv7.tar.gz.
func (p Platform) ArchiveName(version string) string {
	return fmt.Sprintf("%s_%s_%s_%s%s%s", BinaryName, version, p.OS, p.Arch, armSuffix(p.ARM), p.ArchiveExt())
}

func armSuffix(goarm string) string {
	if goarm == "" {
		return ""
	}
	return "v" + goarm
}

// Files are the archive's entries in order: the binary, the completion helper and the
// license, all at the archive's top level.
func (p Platform) Files() []string {
	return []string{p.Binary(), CompletionScript, LicenseFile}
}

// GoEnv is the environment that cross-compiles for the platform, CGO off.
func (p Platform) GoEnv() []string {
	env := []string{"GOOS=" + p.OS, "GOARCH=" + p.Arch, "CGO_ENABLED=0"}
	if p.ARM != "" {
		env = append(env, "GOARM="+p.ARM)
	}
	return env
}
