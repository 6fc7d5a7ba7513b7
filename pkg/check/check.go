// Package check verifies an installed setup: named checks in categories, each
// gathering what it needs (Kubernetes objects, Prometheus and Alertmanager answers),
// judging it with a pure evaluator, and returning ok, warning or failure with a
// message, a hint and the runbook to read. Run runs them all concurrently, each with
// its own timeout; a failing check never hides the others.
package check

import (
	"context"
	"fmt"
	"strings"
)

// Status is the verdict of a check.
type Status string

// The verdicts, from best to worst.
const (
	StatusOK      Status = "ok"
	StatusWarning Status = "warning"
	StatusFailure Status = "failure"
)

// Symbol is how the text report marks a status.
func (s Status) Symbol() string {
	switch s {
	case StatusOK:
		return "✓"
	case StatusWarning:
		return "‼"
	}
	return "×"
}

// rank orders statuses from best to worst.
func (s Status) rank() int {
	switch s {
	case StatusOK:
		return 0
	case StatusWarning:
		return 1
	}
	return 2
}

// Result is what one check found.
type Result struct {
	Status  Status
	Message string
	// Hint says what to do about a warning or failure.
	Hint string
	// Runbook names the runbook to run (`kubectl picluster runbook run NAME`).
	Runbook string
	// Err is the error that kept the check from looking (a connection failure, a
	// timeout); it decides the exit code and is never printed beyond Message.
	Err error
}

// OK is a passing result.
func OK(format string, args ...any) Result {
	return Result{Status: StatusOK, Message: fmt.Sprintf(format, args...)}
}

// Warn is a warning with a hint and a runbook.
func Warn(hint, runbook, format string, args ...any) Result {
	return Result{Status: StatusWarning, Message: fmt.Sprintf(format, args...), Hint: hint, Runbook: runbook}
}

// Fail is a failure with a hint and a runbook.
func Fail(hint, runbook, format string, args ...any) Result {
	return Result{Status: StatusFailure, Message: fmt.Sprintf(format, args...), Hint: hint, Runbook: runbook}
}

// Errored is a failure because what the check needed could not be read: what was
// being done and why, with the error kept for the exit code.
func Errored(err error, hint, runbook, format string, args ...any) Result {
	msg := fmt.Sprintf(format, args...)
	if text := err.Error(); !strings.HasPrefix(text, msg+":") && !strings.HasPrefix(text, msg+" (") { // each layer says what it did once
		msg += ": " + text
	} else {
		msg = text
	}
	return Result{Status: StatusFailure, Message: msg, Hint: hint, Runbook: runbook, Err: err}
}

// Worst returns the worse of two results (the first when equal).
func Worst(a, b Result) Result {
	if b.Status.rank() > a.Status.rank() {
		return b
	}
	return a
}

// Hints for checks that could not ask what they needed.
const (
	hintAPIServer    = "kubectl cluster-info; kubectl auth can-i --list"
	hintPrometheus   = "see the monitoring/prometheus check; --prometheus-url reaches Prometheus without the service proxy"
	hintAlertmanager = "see the monitoring/alertmanager check; --alertmanager-url reaches Alertmanager without the service proxy"
	hintSettings     = "kubectl picluster config view"
)

// Check is one named check of a category.
type Check struct {
	Category string
	Name     string
	// Run gathers and judges; it must honour ctx.
	Run func(ctx context.Context) Result
}
