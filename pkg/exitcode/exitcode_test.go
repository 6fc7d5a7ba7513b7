package exitcode

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
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
