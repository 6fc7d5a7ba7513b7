// Package exitcode maps errors to the plugin's exit codes: 0 ok, 1 the checked or
// requested thing failed, 2 bad usage, configuration or connection, 124 timed out.
package exitcode

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// The exit codes of kubectl-picluster, as promised in the design.
const (
	OK      = 0
	Failure = 1
	Usage   = 2
	Timeout = 124
)

// Error carries an exit code along with the error it classifies.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap exposes the classified error to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode reports the code the process should exit with.
func (e *Error) ExitCode() int { return e.Code }

// WithCode wraps err so that Code returns code for it; nil stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Failed marks err as "the checked or requested thing failed" (exit 1).
func Failed(err error) error { return WithCode(Failure, err) }

// BadUsage marks err as bad usage, input, configuration or connection (exit 2).
func BadUsage(err error) error { return WithCode(Usage, err) }

// TimedOut marks err as a timeout (exit 124).
func TimedOut(err error) error { return WithCode(Timeout, err) }

// Silent is returned by commands that already reported their outcome (a failing
// check prints its own report): main exits with its code without printing again.
type Silent struct{ Code int }

func (s Silent) Error() string { return "exit status " + strconv.Itoa(s.Code) }

// ExitCode reports the code the process should exit with.
func (s Silent) ExitCode() int { return s.Code }

// Code returns the exit code for err. An explicit classification (anything in the
// chain with an ExitCode method) wins; otherwise deadlines and network timeouts are
// 124, an API server that refuses the user (401, 403) or cannot be reached is 2,
// and anything else is 1.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	if IsTimeout(err) {
		return Timeout
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return Usage
	}
	var urlErr *url.Error
	var opErr *net.OpError
	if errors.As(err, &urlErr) || errors.As(err, &opErr) {
		return Usage
	}
	return Failure
}

// IsTimeout reports whether err is a deadline or a network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// Signalled is the cause a command's context is cancelled with when the process
// gets SIGINT or SIGTERM (see context.WithCancelCause).
type Signalled struct{ Signal syscall.Signal }

func (s Signalled) Error() string { return "interrupted by " + SignalName(s.Signal) }

// SignalName is the conventional name of SIGINT and SIGTERM ("SIGINT"); other
// signals by their description.
func SignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// Interrupted ends a command that SIGINT or SIGTERM stopped: the exit code is
// 128 + the signal's number, as shells report it (130, 143), and the message is
// the one line that says what was left in which state.
type Interrupted struct {
	Signal syscall.Signal
	// State says what the command left in which state ("nothing was changed").
	State string
}

func (e *Interrupted) Error() string {
	return "interrupted by " + SignalName(e.Signal) + ": " + e.State
}

// ExitCode reports 128 + the signal's number.
func (e *Interrupted) ExitCode() int { return 128 + int(e.Signal) }

// SignalOf returns the signal that cancelled ctx, if one did.
func SignalOf(ctx context.Context) (syscall.Signal, bool) {
	var s Signalled
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal, true
	}
	return 0, false
}
