package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildPlugin builds the real binary and puts it, with the completion helper
// script, in a folder on PATH, the way krew lays them out.
func buildPlugin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-picluster"), ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	script, err := os.ReadFile("kubectl_complete-picluster")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubectl_complete-picluster"), script, 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "no-kubeconfig"))
	return dir
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBinaryExitCodes(t *testing.T) {
	buildPlugin(t)
	tests := map[string]struct {
		args []string
		code int
	}{
		"version":         {args: []string{"version", "--client"}, code: 0},
		"unknown command": {args: []string{"nope"}, code: 2},
		"unknown flag":    {args: []string{"--nope"}, code: 2},
		"bad settings":    {args: []string{"--config", "/nonexistent.yaml", "config", "view"}, code: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("kubectl-picluster", tc.args...)
			out, err := cmd.CombinedOutput()
			assert.Equal(t, tc.code, exitCode(err), "%s", out)
			if tc.code != 0 {
				assert.Equal(t, 1, strings.Count(string(out), "Error:"), "error printed once: %s", out)
			}
		})
	}
}

// TestCompletionScript runs kubectl_complete-picluster as kubectl >= 1.26 does:
// with the words typed after `kubectl picluster`.
func TestCompletionScript(t *testing.T) {
	buildPlugin(t)
	out, err := exec.Command("kubectl_complete-picluster", "ver").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "version")
	assert.Contains(t, string(out), ":4", "cobra's directive line (no file completion) ends the answer")

	out, err = exec.Command("kubectl_complete-picluster", "completion", "").Output()
	require.NoError(t, err)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		assert.Contains(t, string(out), shell)
	}
}
