package exitcode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
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
