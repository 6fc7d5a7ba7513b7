// Package duration reads every duration the plugin's flags take, with one syntax and
// one wording for its errors: Alertmanager's and Prometheus's (model.Duration: 30s, 5m,
// 2h, 1d, 1w, 1y, 1h30m, 500ms), and also Go's (1.5h, 2h45m0s, 300us), which the flags
// that were Go durations accepted before.
package duration

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ErrSyntax is the reason given for a value that is not a duration.
var ErrSyntax = errors.New("not a duration (use a number and a unit: 30s, 5m, 2h, 1d, 1w)")

// ErrNotPositive is the reason given for zero or a negative duration where neither
// means anything.
var ErrNotPositive = errors.New("must be greater than 0")

// ErrNegative is the reason given for a negative duration where 0 is allowed.
var ErrNegative = errors.New("must not be negative")

// Parse reads s as a duration in either syntax. A leading minus sign is read (the
// caller decides whether a negative duration means anything).
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	if body == "" {
		return 0, ErrSyntax
	}
	d, err := model.ParseDuration(body)
	if err == nil {
		if neg {
			return -time.Duration(d), nil
		}
		return time.Duration(d), nil
	}
	gd, gerr := time.ParseDuration(s)
	if gerr != nil {
		return 0, ErrSyntax
	}
	return gd, nil
}

// Value is a duration flag (a pflag.Value): it parses when the flag is set, so a bad
// value is refused with pflag's wording for every flag alike: invalid argument "1x"
// for "-d, --duration" flag: not a duration (...).
type Value struct {
	d         *time.Duration
	allowZero bool
}

// NewValue binds a flag to d, which holds the default. Zero and negative values are
// refused unless allowZero, which allows zero (a flag where 0 means "off").
func NewValue(d *time.Duration, allowZero bool) *Value {
	return &Value{d: d, allowZero: allowZero}
}

// Set parses s into the bound duration.
func (v *Value) Set(s string) error {
	d, err := Parse(s)
	switch {
	case err != nil:
		return err
	case d < 0 && v.allowZero:
		return ErrNegative
	case d <= 0 && !v.allowZero:
		return ErrNotPositive
	}
	*v.d = d
	return nil
}

// String formats the bound duration the way it can be typed back, and zero as ""
// (help then shows no default for a flag that is off or required).
func (v *Value) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return Format(*v.d)
}

// Type names the flag's value in help output.
func (v *Value) Type() string { return "duration" }

// Format writes d as Prometheus does when it fits ("1w", "2h30m"), else as Go does
// ("1.5s"); 0 is "0s".
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d > 0 && d%time.Millisecond == 0 {
		return model.Duration(d).String()
	}
	return d.String()
}
