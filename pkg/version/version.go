// Package version holds the build's version and commit, stamped at build time:
//
//	go build -ldflags "-X github.com/picluster/kubectl-picluster/pkg/version.Version=v0.1.0 \
//	  -X github.com/picluster/kubectl-picluster/pkg/version.Commit=$(git rev-parse HEAD)"
package version

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are set with -ldflags -X by the release build.
var (
	Version = "v0.0.0-dev"
	Commit  = ""
)

// Info describes this build of the plugin.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build's version information. Without a stamped commit it falls
// back to the VCS revision Go recorded, if any.
func Get() Info {
	commit := Commit
	if commit == "" {
		commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	return Info{
		Version:   Version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
