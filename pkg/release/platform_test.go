package release

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePlatform(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Platform
		wantErr string
	}{
		"os/arch":          {in: "linux/amd64", want: Platform{OS: "linux", Arch: "amd64"}},
		"arm means v7":     {in: "linux/arm", want: Platform{OS: "linux", Arch: "arm", ARM: "7"}},
		"arm v6":           {in: "linux/arm/v6", want: Platform{OS: "linux", Arch: "arm", ARM: "6"}},
		"spaces trimmed":   {in: " darwin/arm64 ", want: Platform{OS: "darwin", Arch: "arm64"}},
		"version on amd64": {in: "linux/amd64/v7", wantErr: "only fits arch arm"},
		"no arch":          {in: "linux", wantErr: "want os/arch"},
		"empty":            {in: "", wantErr: "want os/arch"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePlatform(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParsePlatforms(t *testing.T) {
	all, err := ParsePlatforms("")
	require.NoError(t, err)
	assert.Equal(t, DefaultPlatforms(), all)

	two, err := ParsePlatforms("linux/amd64,windows/amd64")
	require.NoError(t, err)
	assert.Equal(t, []Platform{{OS: "linux", Arch: "amd64"}, {OS: "windows", Arch: "amd64"}}, two)

	_, err = ParsePlatforms("linux/arm,linux/arm/v7")
	require.ErrorContains(t, err, "given twice")
}

func TestPlatformNames(t *testing.T) {
	tests := map[string]struct {
		p       Platform
		archive string
		binary  string
		env     []string
	}{
		"linux/amd64": {
			p: Platform{OS: "linux", Arch: "amd64"}, archive: "kubectl-picluster_v0.1.0_linux_amd64.tar.gz",
			binary: "kubectl-picluster", env: []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"},
		},
		"linux/arm/v7": {
			p: Platform{OS: "linux", Arch: "arm", ARM: "7"}, archive: "kubectl-picluster_v0.1.0_linux_armv7.tar.gz",
			binary: "kubectl-picluster", env: []string{"GOOS=linux", "GOARCH=arm", "CGO_ENABLED=0", "GOARM=7"},
		},
		"windows/amd64": {
			p: Platform{OS: "windows", Arch: "amd64"}, archive: "kubectl-picluster_v0.1.0_windows_amd64.zip",
			binary: "kubectl-picluster.exe", env: []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, name, tc.p.String())
			assert.Equal(t, tc.archive, tc.p.ArchiveName("v0.1.0"))
			assert.Equal(t, tc.binary, tc.p.Binary())
			assert.Equal(t, []string{tc.binary, CompletionScript, LicenseFile}, tc.p.Files())
			assert.Equal(t, tc.env, tc.p.GoEnv())
		})
	}
}

func TestDefaultPlatformsHaveDistinctArchives(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range DefaultPlatforms() {
		name := p.ArchiveName(TagPlaceholder)
		assert.False(t, seen[name], name)
		seen[name] = true
	}
	assert.Len(t, seen, 6)
}
