package settings

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Duration is a time span written the way Prometheus writes them ("30m", "6h",
// "8d", "1w"), so thresholds read the same in settings and in alert rules.
type Duration time.Duration

// ParseDuration reads a Prometheus-style duration.
func ParseDuration(s string) (Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return Duration(d), nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Prometheus does ("1w1d", "30m").
func (d Duration) String() string { return model.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "30m" or "8d".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration string such as \"30m\" or \"8d\", got %s", b)
	}
	parsed, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number and a unit: ms, s, m, h, d, w, y)", s)
	}
	*d = parsed
	return nil
}
