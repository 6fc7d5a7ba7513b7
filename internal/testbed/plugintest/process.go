package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/cmd"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// argsEnv carries the arguments (JSON) of a test binary re-executed as the plugin.
const argsEnv = "PICLUSTER_PLUGINTEST_ARGS"

// MaybeRunPlugin runs the plugin as main does (SIGINT and SIGTERM cancel the
// command's context with the signal as the cause, and the process waits for it to put
// things back) when Start re-executed this test binary for it, and then exits. It
// returns at once otherwise. Call it first in TestMain.
func MaybeRunPlugin() {
	raw, ok := os.LookupEnv(argsEnv)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		os.Stderr.WriteString("plugintest: bad " + argsEnv + ": " + err.Error() + "\n")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cmd.Execute(ctx, genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, args)
	}()
	select {
	case code := <-done:
		os.Exit(code)
	case s := <-sigs:
		cancel(exitcode.Signalled{Signal: s.(syscall.Signal)})
	}
	os.Exit(<-done)
}

// Process is the plugin running in a process of its own (Start).
type Process struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *testbed.SyncBuffer
	done           chan struct{}
	code           int
}

// Start runs `kubectl picluster ARGS` in a process of its own (this test binary,
// re-executed; TestMain must call MaybeRunPlugin), so that a test can signal or kill
// it. The process is killed when the test ends.
func Start(t testing.TB, stdin string, args ...string) *Process {
	t.Helper()
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), argsEnv+"="+string(raw))
	p := &Process{Cmd: c, Stdout: &testbed.SyncBuffer{}, Stderr: &testbed.SyncBuffer{}, done: make(chan struct{})}
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(stdin), p.Stdout, p.Stderr
	require.NoError(t, c.Start())
	go func() {
		err := c.Wait()
		p.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = c.Process.Kill()
		<-p.done
	})
	return p
}

// Wait waits for the process to end (failing the test after timeout) and returns its
// exit code (128+N when signal N killed it).
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("the plugin did not end within %s:\nstdout:\n%s\nstderr:\n%s", timeout, p.Stdout, p.Stderr)
		return -1
	}
}
