package proc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitFor calls cond now and then every interval until it returns true, returns an error
// (which ends the wait), or ctx ends. The error on timeout wraps ctx's error.
func WaitFor(ctx context.Context, every time.Duration, cond func(ctx context.Context) (bool, error)) error {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// WaitHTTP polls url with GET until it answers 2xx or ctx ends; the error then says what
// the last attempt got.
func WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	err := WaitFor(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil { // keep the last real answer, not the cancellation
				last = err
			}
			return false, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true, nil
		}
		last = fmt.Errorf("status %s", resp.Status)
		return false, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("wait for %s (last: %v): %w", url, last, err)
	}
	if err != nil {
		return fmt.Errorf("wait for %s: %w", url, err)
	}
	return nil
}

// UntilExit returns a context that also ends when p exits, so a wait for readiness stops
// at once when the server dies during start-up. Call cancel when done.
func UntilExit(ctx context.Context, p *Process) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-p.Done():
			_, err := p.Exited()
			cancel(fmt.Errorf("%s exited during start-up (%v)", p.Spec.Name, err))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
