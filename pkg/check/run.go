package check

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// DefaultTimeout bounds each check when RunOptions.Timeout is zero.
const DefaultTimeout = 20 * time.Second

// RunOptions tune Run.
type RunOptions struct {
	// Timeout bounds each check (DefaultTimeout when zero).
	Timeout time.Duration
	// FailOnWarning makes a warning fail the report.
	FailOnWarning bool
	// Progress, when set, is called after each check ends (done of total).
	Progress func(done, total int)
}

// Run runs every check concurrently, each with its own timeout, and returns the
// report in the order of checks. A check that panics fails alone.
func Run(ctx context.Context, checks []Check, o RunOptions) *Report {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	began := time.Now()
	results := make([]CheckReport, len(checks))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runOne(ctx, c, timeout)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(checks))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r := &Report{Started: began, Duration: time.Since(began), failOnWarning: o.FailOnWarning}
	for i, c := range checks {
		r.add(c.Category, results[i])
	}
	r.Success = r.success()
	return r
}

func runOne(ctx context.Context, c Check, timeout time.Duration) (cr CheckReport) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("check %s/%s panicked: %v\n%s", c.Category, c.Name, p, debug.Stack())
			cr = newCheckReport(c.Name, Result{Status: StatusFailure, Message: fmt.Sprintf("the check itself failed: %v", p), Err: err})
		}
		cr.Duration = time.Since(began)
	}()
	res := c.Run(ctx)
	if res.Status == "" {
		res.Status = StatusFailure
	}
	// A check that ran out of time says so, whatever the error it got looks like.
	if res.Status == StatusFailure && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Err == nil {
		res.Err = fmt.Errorf("check %s/%s: %w", c.Category, c.Name, ctx.Err())
	}
	return newCheckReport(c.Name, res)
}

// Filter keeps the checks of the given categories (all when none are given). An
// unknown category is a usage error naming the known ones.
func Filter(checks []Check, categories []string) ([]Check, error) {
	if len(categories) == 0 {
		return checks, nil
	}
	known := Categories(checks)
	for _, c := range categories {
		if !slices.Contains(known, c) {
			return nil, exitcode.BadUsage(fmt.Errorf("unknown category %q: use one of %v", c, known))
		}
	}
	var out []Check
	for _, c := range checks {
		if slices.Contains(categories, c.Category) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Categories lists the categories of checks in order of first appearance.
func Categories(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if !slices.Contains(out, c.Category) {
			out = append(out, c.Category)
		}
	}
	return out
}
