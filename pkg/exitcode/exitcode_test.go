package exitcode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

func TestCode(t *testing.T) {
	tests := map[string]struct {
		err  error
		want int
	}{
		"nil is ok":                    {err: nil, want: OK},
		"plain error fails":            {err: errors.New("boom"), want: Failure},
		"usage":                        {err: BadUsage(errors.New("bad flag")), want: Usage},
		"usage wrapped again":          {err: fmt.Errorf("run: %w", BadUsage(errors.New("x"))), want: Usage},
		"explicit failure":             {err: Failed(errors.New("check failed")), want: Failure},
		"timeout":                      {err: TimedOut(errors.New("waited")), want: Timeout},
		"context deadline":             {err: fmt.Errorf("wait: %w", context.DeadlineExceeded), want: Timeout},
		"os deadline":                  {err: os.ErrDeadlineExceeded, want: Timeout},
		"net timeout inside url error": {err: &url.Error{Op: "Get", URL: "http://x", Err: netTimeout{}}, want: Timeout},
		"classification beats timeout": {err: BadUsage(context.DeadlineExceeded), want: Usage},
		"silent keeps its code":        {err: Silent{Code: Failure}, want: Failure},
		"canceled is a failure":        {err: context.Canceled, want: Failure},
		"forbidden":                    {err: fmt.Errorf("list pods: %w", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))), want: Usage},
		"unauthorized":                 {err: apierrors.NewUnauthorized("who are you"), want: Usage},
		"not found is a failure":       {err: apierrors.NewNotFound(schema.GroupResource{Resource: "cronjobs"}, "x"), want: Failure},
		"unreachable server":           {err: &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, want: Usage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, Code(tc.err))
		})
	}
}

func TestWithCodeKeepsNil(t *testing.T) {
	assert.NoError(t, BadUsage(nil))
	err := errors.New("inner")
	assert.ErrorIs(t, Failed(err), err)
	assert.Equal(t, "inner", Failed(err).Error())
}

func TestInterrupted(t *testing.T) {
	tests := map[string]struct {
		sig  syscall.Signal
		code int
		msg  string
	}{
		"SIGINT is 130, as shells report it":  {sig: syscall.SIGINT, code: 130, msg: "interrupted by SIGINT: nothing was changed"},
		"SIGTERM is 143, as shells report it": {sig: syscall.SIGTERM, code: 143, msg: "interrupted by SIGTERM: nothing was changed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &Interrupted{Signal: tc.sig, State: "nothing was changed"})
			assert.Equal(t, tc.code, Code(err))
			var in *Interrupted
			require.ErrorAs(t, err, &in)
			assert.Equal(t, tc.msg, in.Error())

			ctx, cancel := context.WithCancelCause(context.Background())
			_, ok := SignalOf(ctx)
			assert.False(t, ok)
			cancel(Signalled{Signal: tc.sig})
			child, stop := context.WithTimeout(ctx, time.Hour)
			defer stop()
			sig, ok := SignalOf(child)
			assert.True(t, ok, "a derived context knows the signal too")
			assert.Equal(t, tc.sig, sig)
		})
	}
}
