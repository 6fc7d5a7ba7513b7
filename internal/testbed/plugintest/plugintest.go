// Package plugintest runs `kubectl picluster` in-process for tests, the way main
// does: the root command of pkg/cmd, its error printed once to stderr and mapped
// to an exit code by cmd.Report.
package plugintest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd"
)

// DefaultTimeout bounds one run when the Runner sets no Timeout.
const DefaultTimeout = time.Minute

// Result is what one run of the plugin printed and returned.
type Result struct {
	// Stdout and Stderr are what the run printed; Stderr ends with the
	// "Error: ..." line main prints, unless the command reported it itself.
	Stdout, Stderr string
	// Err is the error the root command returned.
	Err error
	// Code is the exit code main would have returned.
	Code int
}

// All is everything the run showed: stdout, stderr and the error.
func (r Result) All() string {
	s := r.Stdout + r.Stderr
	if r.Err != nil {
		s += r.Err.Error()
	}
	return s
}

// Runner runs the plugin with the given stdin and time limit.
type Runner struct {
	// Stdin is what the plugin reads from standard input.
	Stdin string
	// Timeout bounds the run; zero means DefaultTimeout.
	Timeout time.Duration
}

// Run runs `kubectl picluster ARGS` with no stdin within DefaultTimeout.
func Run(t testing.TB, args ...string) Result {
	t.Helper()
	return Runner{}.Run(t, args...)
}

// Run runs `kubectl picluster ARGS`. Without --config in args it uses an empty
// settings file (the defaults), never the machine's own. It is safe to call from
// several goroutines.
func (r Runner) Run(t testing.TB, args ...string) Result {
	t.Helper()
	if !hasConfig(args) {
		empty := filepath.Join(t.TempDir(), "config.yaml")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		args = append([]string{"--config", empty}, args...)
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var out, errOut bytes.Buffer
	root := cmd.NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(r.Stdin), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := root.ExecuteContext(ctx)
	code := cmd.Report(&errOut, err)
	return Result{Stdout: out.String(), Stderr: errOut.String(), Err: err, Code: code}
}

// hasConfig tells whether args name a settings file.
func hasConfig(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--config" || strings.HasPrefix(a, "--config=") {
			return true
		}
	}
	return false
}
