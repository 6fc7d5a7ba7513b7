package release

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKrewTemplateIsWhatTheBotExpects(t *testing.T) {
	tmpl := KrewTemplate(DefaultPlatforms(), DefaultBaseURL(TagPlaceholder))
	assert.Contains(t, tmpl, "  version: {{ .TagName }}\n")
	for _, p := range DefaultPlatforms() {
		// Four spaces: addURIAndSha's second line (sha256) is indented by four.
		call := `    {{addURIAndSha "https://github.com/picluster/kubectl-picluster/releases/download/{{ .TagName }}/` +
			p.ArchiveName(TagPlaceholder) + `" .TagName }}` + "\n"
		assert.Contains(t, tmpl, call)
	}
	assert.True(t, strings.HasPrefix(string(TemplateFile()), "# krew-release-bot template"))
	assert.True(t, strings.HasSuffix(string(TemplateFile()), tmpl))
}

func TestRenderTemplate(t *testing.T) {
	tests := map[string]struct {
		tmpl    string
		lookup  SHALookup
		want    string
		wantErr string
	}{
		"tag and version": {
			tmpl: "v: {{ .TagName }} {{ .Version }}",
			want: "v: v1.2.3 1.2.3",
		},
		"uri and sha": {
			tmpl:   "  - x: 1\n    {{addURIAndSha \"https://h/{{ .TagName }}/a-{{ .Version }}.tgz\" .TagName }}\n",
			lookup: func(url string) (string, error) { return "sha-of-" + url, nil },
			want:   "  - x: 1\n    uri: https://h/v1.2.3/a-1.2.3.tgz\n    sha256: sha-of-https://h/v1.2.3/a-1.2.3.tgz\n",
		},
		"indent": {
			tmpl:   `      {{ indent 6 (addURIAndSha "u" .TagName) }}`,
			lookup: func(string) (string, error) { return "s", nil },
			want:   "      uri: u\n      sha256: s",
		},
		"lookup fails": {
			tmpl:    `{{addURIAndSha "u" .TagName }}`,
			lookup:  func(string) (string, error) { return "", errors.New("no archive u") },
			wantErr: "no archive u",
		},
		"bad template": {tmpl: "{{ .TagName", wantErr: "parse krew template"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := RenderTemplate(tc.tmpl, "v1.2.3", tc.lookup)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestCompletionInstallCommand(t *testing.T) {
	assert.Equal(t,
		`cp "${KREW_ROOT:-$HOME/.krew}/store/picluster/v1.0.0/kubectl_complete-picluster" "${KREW_ROOT:-$HOME/.krew}/bin/"`,
		CompletionInstallCommand("v1.0.0"))
}
