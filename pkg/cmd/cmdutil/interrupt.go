package cmdutil

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// interruptAnnotation holds what a command leaves behind when SIGINT or
// SIGTERM stops it part way (OnInterrupt).
const interruptAnnotation = "picluster.dev/on-interrupt"

// NothingChanged is the state a command that only reads leaves on an interrupt.
const NothingChanged = "nothing was changed"

// OnInterrupt records the state cmd leaves when an interrupt stops it part way,
// for the one line printed then ("interrupted by SIGINT: <state>"). A command
// that records none only reads: NothingChanged. A command that knows more at
// the moment it stops returns Interruption's error itself.
func OnInterrupt(cmd *cobra.Command, state string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[interruptAnnotation] = state
}

// InterruptState is the state OnInterrupt recorded for cmd (NothingChanged if none).
func InterruptState(cmd *cobra.Command) string {
	if s, ok := cmd.Annotations[interruptAnnotation]; ok {
		return s
	}
	return NothingChanged
}

// Interruption returns the error that ends a command stopped by SIGINT or
// SIGTERM, with the state it leaves, or nil when no signal cancelled ctx.
func Interruption(ctx context.Context, state string) error {
	sig, ok := exitcode.SignalOf(ctx)
	if !ok {
		return nil
	}
	return &exitcode.Interrupted{Signal: sig, State: state}
}

// interrupted replaces the outcome of a command that a signal stopped (also a
// success, or a "context canceled" from a request cut short) by the
// interruption and the state the command leaves.
func interrupted(cmd *cobra.Command, err error) error {
	if _, ok := exitcode.SignalOf(cmd.Context()); !ok {
		return err
	}
	var in *exitcode.Interrupted
	if errors.As(err, &in) {
		return in
	}
	return Interruption(cmd.Context(), InterruptState(cmd))
}

// ReadLine reads one line from in (a question's answer), or returns ctx's
// error when ctx ends first: an interrupt must not wait for a line that never
// comes. The reading goroutine is left to the process's end.
func ReadLine(ctx context.Context, in io.Reader) (string, error) {
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(in).ReadString('\n')
		got <- line{s, err}
	}()
	select {
	case l := <-got:
		return l.s, l.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// cleanupGrace is how long the process waits, after SIGINT or SIGTERM, for the running
// command to put things back (nanoseconds; 0: main's default).
var cleanupGrace atomic.Int64

// SetCleanupGrace lets the running command take longer than main's default to clean
// up after an interrupt: restore scales Immich back up and may restore its restore
// point first. A second signal still ends the process at once.
func SetCleanupGrace(d time.Duration) { cleanupGrace.Store(int64(d)) }

// CleanupGrace is the grace the running command asked for, or def.
func CleanupGrace(def time.Duration) time.Duration {
	if d := time.Duration(cleanupGrace.Load()); d > def {
		return d
	}
	return def
}
