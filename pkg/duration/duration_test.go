package duration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	day := 24 * time.Hour
	tests := map[string]struct {
		in      string
		want    time.Duration
		wantErr error
	}{
		// Alertmanager's and Prometheus's syntax (prometheus/common model.ParseDuration)
		"seconds":       {in: "30s", want: 30 * time.Second},
		"minutes":       {in: "5m", want: 5 * time.Minute},
		"hours":         {in: "2h", want: 2 * time.Hour},
		"days":          {in: "1d", want: day},
		"weeks":         {in: "1w", want: 7 * day},
		"years":         {in: "1y", want: 365 * day},
		"compound":      {in: "1w2d3h", want: 9*day + 3*time.Hour},
		"milliseconds":  {in: "500ms", want: 500 * time.Millisecond},
		"zero":          {in: "0", want: 0},
		"spaces around": {in: " 2h ", want: 2 * time.Hour},
		// Go's syntax, which --wait, --timeout and --check-timeout took before
		"decimal":     {in: "1.5h", want: 90 * time.Minute},
		"Go's String": {in: "2h45m0s", want: 2*time.Hour + 45*time.Minute},
		"micros":      {in: "300us", want: 300 * time.Microsecond},
		"negative":    {in: "-1h", want: -time.Hour},
		"garbage":     {in: "soon", wantErr: ErrSyntax},
		"no unit":     {in: "90", wantErr: ErrSyntax},
		"bad unit":    {in: "1x", wantErr: ErrSyntax},
		"empty":       {in: "", wantErr: ErrSyntax},
		"minus alone": {in: "-", wantErr: ErrSyntax},
		"days in Go":  {in: "1.5d", wantErr: ErrSyntax},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, d)
		})
	}
}

func TestValue(t *testing.T) {
	tests := map[string]struct {
		in        string
		allowZero bool
		want      time.Duration
		wantErr   error
	}{
		"positive":               {in: "1d", want: 24 * time.Hour},
		"zero refused":           {in: "0s", wantErr: ErrNotPositive},
		"negative refused":       {in: "-5m", wantErr: ErrNotPositive},
		"zero where it is off":   {in: "0", allowZero: true, want: 0},
		"negative where 0 is ok": {in: "-5m", allowZero: true, wantErr: ErrNegative},
		"syntax":                 {in: "5 minutes", wantErr: ErrSyntax},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := time.Minute
			err := NewValue(&d, tc.allowZero).Set(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Equal(t, time.Minute, d, "a refused value leaves the default")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, d)
		})
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", 90 * time.Minute: "1h30m", 7 * 24 * time.Hour: "1w", 1500 * time.Microsecond: "1.5ms",
	} {
		assert.Equal(t, want, Format(in))
		back, err := Parse(want)
		require.NoError(t, err)
		assert.Equal(t, in, back, "Format reads back")
	}
	d := time.Duration(0)
	assert.Equal(t, "", NewValue(&d, true).String(), "help shows no default for an unset flag")
}
