package check

import (
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/url"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// CheckReport is one check's line in the report.
type CheckReport struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Message  string        `json:"message"`
	Hint     string        `json:"hint"`
	Runbook  string        `json:"runbook"`
	Duration time.Duration `json:"-"`

	err error
}

// MarshalJSON adds durationSeconds (milliseconds precision).
func (c CheckReport) MarshalJSON() ([]byte, error) {
	type plain CheckReport
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"durationSeconds"`
	}{plain(c), seconds(c.Duration)})
}

// Err is the error that kept the check from looking, if any.
func (c CheckReport) Err() error { return c.err }

func newCheckReport(name string, r Result) CheckReport {
	return CheckReport{Name: name, Status: r.Status, Message: r.Message, Hint: r.Hint, Runbook: r.Runbook, err: r.Err}
}

// CategoryReport groups the checks of one category.
type CategoryReport struct {
	Name   string        `json:"name"`
	Checks []CheckReport `json:"checks"`
}

// CallStats summarize the API calls a run made: how many and the slowest, so that
// the run's wall time can be set against its slowest call.
type CallStats struct {
	Count   int           `json:"count"`
	Slowest time.Duration `json:"-"`
	// SlowestCall names the slowest call (method and path, no query).
	SlowestCall string `json:"slowestCall,omitempty"`
}

// MarshalJSON adds slowestSeconds.
func (c CallStats) MarshalJSON() ([]byte, error) {
	type plain CallStats
	return json.Marshal(struct {
		plain
		SlowestSeconds float64 `json:"slowestSeconds"`
	}{plain(c), seconds(c.Slowest)})
}

// Report is the outcome of a run: `check -o json` prints it as one document.
type Report struct {
	Success    bool             `json:"success"`
	Categories []CategoryReport `json:"categories"`
	Started    time.Time        `json:"-"`
	Duration   time.Duration    `json:"-"`
	// Calls is filled in by the caller that recorded the run's API calls.
	Calls *CallStats `json:"apiCalls,omitempty"`

	failOnWarning bool
}

// MarshalJSON adds durationSeconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"durationSeconds"`
	}{plain(r), seconds(r.Duration)})
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func (r *Report) add(category string, c CheckReport) {
	for i := range r.Categories {
		if r.Categories[i].Name == category {
			r.Categories[i].Checks = append(r.Categories[i].Checks, c)
			return
		}
	}
	r.Categories = append(r.Categories, CategoryReport{Name: category, Checks: []CheckReport{c}})
}

// Checks returns every check's report in order.
func (r *Report) Checks() []CheckReport {
	var out []CheckReport
	for _, c := range r.Categories {
		out = append(out, c.Checks...)
	}
	return out
}

// Find returns the report of the named check of a category.
func (r *Report) Find(category, name string) (CheckReport, bool) {
	for _, c := range r.Categories {
		if c.Name != category {
			continue
		}
		for _, ch := range c.Checks {
			if ch.Name == name {
				return ch, true
			}
		}
	}
	return CheckReport{}, false
}

// Passed tells whether a check counts as passing under the run's options.
func (r *Report) Passed(c CheckReport) bool {
	return c.Status == StatusOK || (c.Status == StatusWarning && !r.failOnWarning)
}

func (r *Report) success() bool {
	for _, c := range r.Checks() {
		if !r.Passed(c) {
			return false
		}
	}
	return true
}

// Counts returns how many checks are ok, warnings and failures.
func (r *Report) Counts() (ok, warnings, failures int) {
	for _, c := range r.Checks() {
		switch c.Status {
		case StatusOK:
			ok++
		case StatusWarning:
			warnings++
		default:
			failures++
		}
	}
	return ok, warnings, failures
}

// ExitCode is the report's exit code: 0 when it passed; 124 when a check ran out of
// time; 2 when a check could not reach what it asks (API server, Prometheus,
// Alertmanager), since the verdict is then incomplete; 1 otherwise.
func (r *Report) ExitCode() int {
	if r.Success {
		return exitcode.OK
	}
	code := exitcode.Failure
	for _, c := range r.Checks() {
		if r.Passed(c) || c.err == nil {
			continue
		}
		switch connectionCode(c.err) {
		case exitcode.Timeout:
			return exitcode.Timeout
		case exitcode.Usage:
			code = exitcode.Usage
		}
	}
	return code
}

// connectionCode classifies the error behind a failed check: 124 for a timeout, 2
// for a server that could not be reached, 0 for anything else (an answer that
// says no, e.g. 403 or 404, is what the check is about).
func connectionCode(err error) int {
	if exitcode.IsTimeout(err) {
		return exitcode.Timeout
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		if c := coded.ExitCode(); c == exitcode.Usage || c == exitcode.Timeout {
			return c
		}
		return 0
	}
	var urlErr *url.Error
	var opErr *net.OpError
	if errors.As(err, &urlErr) || errors.As(err, &opErr) {
		return exitcode.Usage
	}
	return 0
}
