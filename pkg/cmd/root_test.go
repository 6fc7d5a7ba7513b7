package cmd_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/cmd"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// run executes the plugin in-process and returns its exit code and streams.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	r := plugintest.Run(t, args...)
	return r.Code, r.Stdout, r.Stderr
}

// noCluster points the plugin at a kubeconfig whose server refuses connections
// and at an empty settings folder, so tests never touch the machine's own.
func noCluster(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	return kc
}

func TestExitCodes(t *testing.T) {
	kc := noCluster(t)
	badSettings := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(badSettings, []byte("backup:\n  retention: 0\n"), 0o600))

	tests := map[string]struct {
		args   []string
		code   int
		errHas string
		outHas string
	}{
		"no args shows help":         {args: nil, code: 0, outHas: "kubectl picluster"},
		"help flag":                  {args: []string{"--help"}, code: 0, outHas: "Exit codes"},
		"unknown command":            {args: []string{"bogus"}, code: 2, errHas: `unknown command "bogus"`},
		"typo gets a suggestion":     {args: []string{"verison"}, code: 2, errHas: "version"},
		"typo then flags":            {args: []string{"maintenance", "strat", "-d", "2h"}, code: 2, errHas: `unknown command "strat" for "kubectl picluster maintenance", did you mean start?`},
		"typo then an output flag":   {args: []string{"silence", "lsit", "-o", "json"}, code: 2, errHas: `unknown command "lsit" for "kubectl picluster silence", did you mean list?`},
		"root typo then flags":       {args: []string{"chekc", "--wait", "5m"}, code: 2, errHas: `unknown command "chekc" for "kubectl picluster", did you mean check?`},
		"unknown flag":               {args: []string{"--bogus"}, code: 2, errHas: "unknown flag: --bogus"},
		"unknown flag on subcommand": {args: []string{"version", "--bogus"}, code: 2, errHas: "unknown flag"},
		"extra argument":             {args: []string{"version", "extra"}, code: 2, errHas: "unknown command"},
		"bad output format":          {args: []string{"version", "-o", "xml"}, code: 2, errHas: `unsupported output format "xml"`},
		"version without a cluster":  {args: []string{"--kubeconfig", kc, "--request-timeout", "2s", "version"}, code: 0, outHas: "Client Version:"},
		"completion needs a shell":   {args: []string{"completion"}, code: 2, errHas: "accepts 1 arg"},
		"completion rejects a shell": {args: []string{"completion", "tcsh"}, code: 2, errHas: "tcsh"},
		"config group unknown verb":  {args: []string{"config", "edit"}, code: 2, errHas: `unknown command "edit"`},
		"config view bad settings":   {args: []string{"--config", badSettings, "config", "view"}, code: 2, errHas: "key backup.retention"},
		"config view missing file":   {args: []string{"--config", "/nonexistent/picluster.yaml", "config", "view"}, code: 2, errHas: "/nonexistent/picluster.yaml"},
		"config view bad format":     {args: []string{"config", "view", "-o", "table"}, code: 2, errHas: "table"},
		"kubectl flags are there":    {args: []string{"--kubeconfig", kc, "--context", "c", "--as", "someone", "-v", "0", "version", "--client"}, code: 0, outHas: "Client Version:"},
		"-n where it means nothing":  {args: []string{"-n", "immich", "version", "--client"}, code: 2, errHas: "does not take -n/--namespace"},
		"bad verbosity value":        {args: []string{"-v", "loud", "version"}, code: 2, errHas: "loud"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out, errOut)
			if tc.errHas != "" {
				assert.Contains(t, errOut, tc.errHas)
				assert.Equal(t, 1, strings.Count(errOut, "Error:"), "the error is printed once")
			}
			if tc.outHas != "" {
				assert.Contains(t, out, tc.outHas)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	kc := noCluster(t)
	t.Run("client only", func(t *testing.T) {
		code, out, _ := run(t, "version", "--client", "-o", "json")
		require.Equal(t, 0, code)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		client := got["clientVersion"].(map[string]any)
		for _, k := range []string{"version", "commit", "goVersion", "platform"} {
			assert.NotEmpty(t, client[k], k)
		}
		assert.NotContains(t, got, "serverVersion")
		assert.NotContains(t, got, "serverError")
	})
	t.Run("unreachable server is reported, not fatal", func(t *testing.T) {
		code, out, _ := run(t, "--kubeconfig", kc, "version", "-o", "json")
		require.Equal(t, 0, code)
		var got struct {
			ServerVersion any    `json:"serverVersion"`
			ServerError   string `json:"serverError"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Nil(t, got.ServerVersion)
		assert.Contains(t, got.ServerError, "127.0.0.1:1")
		assert.NotContains(t, out, "not-a-real-token")
	})
}

func TestCompletion(t *testing.T) {
	tests := map[string]string{
		"bash": "__start_kubectl-picluster",
		"zsh":  "#compdef kubectl-picluster",
		"fish": "complete -c kubectl-picluster",
	}
	for shell, marker := range tests {
		t.Run(shell, func(t *testing.T) {
			code, out, _ := run(t, "completion", shell)
			require.Equal(t, 0, code)
			assert.Contains(t, out, marker)
		})
	}
	t.Run("dynamic completion of subcommands", func(t *testing.T) {
		code, out, _ := run(t, "__complete", "ver")
		require.Equal(t, 0, code)
		assert.Contains(t, out, "version")
	})
	t.Run("dynamic completion of shells", func(t *testing.T) {
		code, out, _ := run(t, "__complete", "completion", "")
		require.Equal(t, 0, code)
		for _, s := range []string{"bash", "zsh", "fish"} {
			assert.Contains(t, out, s)
		}
	})
}

func TestConfigView(t *testing.T) {
	noCluster(t)
	path := filepath.Join(t.TempDir(), "picluster.yaml")
	require.NoError(t, os.WriteFile(path, []byte("backup:\n  timeZone: Europe/Berlin\n"), 0o600))
	code, out, errOut := run(t, "--config", path, "config", "view", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var got settings.Settings
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	want := settings.Default()
	want.Backup.TimeZone = "Europe/Berlin"
	assert.Equal(t, want, &got)
	assert.Contains(t, errOut, path)

	code, out, _ = run(t, "config", "view")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "timeZone: Etc/UTC")
	assert.Contains(t, out, "passwordSecret:", "settings show references to Secrets")
}

// An error can carry a server's text (a response body): it reaches the terminal escaped.
func TestReportEscapesTheError(t *testing.T) {
	var b strings.Builder
	code := cmd.Report(&b, exitcode.BadUsage(errors.New("get silences: \x1b]0;pwned\x07 \x1b[31mred")))
	assert.Equal(t, exitcode.Usage, code)
	assert.Equal(t, "Error: get silences: ^[]0;pwned^G ^[[31mred\n", b.String())
}
