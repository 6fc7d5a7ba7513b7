package alertmanager

import (
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

var now = time.Date(2025, 12, 28, 2, 30, 0, 0, time.UTC)

func mustMatchers(t *testing.T, args ...string) []string {
	t.Helper()
	_, err := ParseMatchers(args)
	require.NoError(t, err)
	return args
}

func dt(t time.Time) *strfmt.DateTime { d := strfmt.DateTime(t); return &d }

func ptr[T any](v T) *T { return &v }

func TestBuildSilence(t *testing.T) {
	tests := map[string]struct {
		matchers []string
		req      SilenceRequest
		start    time.Time
		end      time.Time
		wantErr  string
	}{
		"duration from now": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Duration: 2 * time.Hour, Comment: "upgrade", Author: "me"},
			start: now, end: now.Add(2 * time.Hour),
		},
		"explicit end": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{End: now.Add(time.Hour), Comment: "c", Author: "me"},
			start: now, end: now.Add(time.Hour),
		},
		"later start with duration": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Start: now.Add(time.Hour), Duration: time.Hour, Comment: "c", Author: "me"},
			start: now.Add(time.Hour), end: now.Add(2 * time.Hour),
		},
		"end before start": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Start: now.Add(2 * time.Hour), End: now.Add(time.Hour), Comment: "c", Author: "me"},
			wantErr: "before it starts",
		},
		"end in the past": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour), Comment: "c", Author: "me"},
			wantErr: "in the past",
		},
		"negative duration": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Duration: -time.Hour, Comment: "c", Author: "me"},
			wantErr: "must be greater than 0",
		},
		"neither duration nor end": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Comment: "c", Author: "me"}, wantErr: "--duration",
		},
		"both duration and end": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Duration: time.Hour, End: now.Add(time.Hour), Comment: "c", Author: "me"},
			wantErr: "not both",
		},
		"empty comment": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Duration: time.Hour, Comment: "  ", Author: "me"}, wantErr: "comment is required",
		},
		"empty author": {
			matchers: []string{"alertname=Foo"}, req: SilenceRequest{Duration: time.Hour, Comment: "c"}, wantErr: "author",
		},
		"no matchers": {req: SilenceRequest{Duration: time.Hour, Comment: "c", Author: "me"}, wantErr: "no matchers"},
		"everything": {
			matchers: []string{`alertname=~".*"`}, req: SilenceRequest{Duration: time.Hour, Comment: "c", Author: "me"}, wantErr: "every alert",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers(tc.matchers)
			require.NoError(t, err)
			tc.req.Matchers = ms
			got, err := BuildSilence(tc.req, now)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			want := &models.PostableSilence{Silence: models.Silence{
				Matchers: APIMatchers(ms), StartsAt: dt(tc.start), EndsAt: dt(tc.end),
				CreatedBy: ptr(tc.req.Author), Comment: ptr(tc.req.Comment),
			}}
			assert.Equal(t, want, got)
			require.NoError(t, got.Validate(strfmt.Default), "the API's own validation")
		})
	}
}

func gettable(id, state string, start, end time.Time, comment string, matchers ...string) *models.GettableSilence {
	ms, err := ParseMatchers(matchers)
	if err != nil {
		panic(err)
	}
	return &models.GettableSilence{
		ID: ptr(id), Status: &models.SilenceStatus{State: ptr(state)}, UpdatedAt: dt(start),
		Silence: models.Silence{Matchers: APIMatchers(ms), StartsAt: dt(start), EndsAt: dt(end), CreatedBy: ptr("ops"), Comment: ptr(comment)},
	}
}

func TestExtendSilence(t *testing.T) {
	start := now.Add(-time.Hour)
	tests := map[string]struct {
		s       *models.GettableSilence
		by      time.Duration
		wantEnd time.Time
		wantErr string
	}{
		"active":  {s: gettable("a", StateActive, start, now.Add(time.Hour), "c", "b=c", "alertname=Foo"), by: 2 * time.Hour, wantEnd: now.Add(3 * time.Hour)},
		"pending": {s: gettable("p", StatePending, now.Add(time.Hour), now.Add(2*time.Hour), "c", "alertname=Foo"), by: time.Hour, wantEnd: now.Add(3 * time.Hour)},
		"expired": {s: gettable("e", StateExpired, start, now.Add(-time.Minute), "c", "alertname=Foo"), by: time.Hour, wantErr: "has expired"},
		"zero":    {s: gettable("z", StateActive, start, now.Add(time.Hour), "c", "alertname=Foo"), wantErr: "greater than 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ExtendSilence(tc.s, tc.by, now)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			// Alertmanager updates in place only when ID, matchers (same order) and start match.
			assert.Equal(t, *tc.s.ID, got.ID)
			assert.Equal(t, tc.s.Matchers, got.Matchers)
			assert.Equal(t, *tc.s.StartsAt, *got.StartsAt)
			assert.Equal(t, tc.wantEnd, time.Time(*got.EndsAt))
			assert.Equal(t, tc.s.Comment, got.Comment)
			assert.Equal(t, tc.s.CreatedBy, got.CreatedBy)
		})
	}
}

func TestFilterSilences(t *testing.T) {
	a := gettable("a", StateActive, now, now.Add(3*time.Hour), "c", "x=1")
	b := gettable("b", StatePending, now.Add(time.Hour), now.Add(2*time.Hour), "c", "x=1")
	e := gettable("e", StateExpired, now.Add(-time.Hour), now.Add(-time.Minute), "c", "x=1")
	all := models.GettableSilences{a, e, b}
	assert.Equal(t, models.GettableSilences{b, a}, FilterSilences(all, false), "current ones, soonest end first")
	assert.Equal(t, models.GettableSilences{e}, FilterSilences(all, true))
}

func alertWith(labels map[string]string, endsAt time.Time) *models.GettableAlert {
	return &models.GettableAlert{
		Alert:    models.Alert{Labels: labels},
		StartsAt: dt(now.Add(-time.Hour)), EndsAt: dt(endsAt), Fingerprint: ptr(labels["alertname"]),
		Status: &models.AlertStatus{State: ptr(models.AlertStatusStateActive)},
	}
}

func TestCoveredAlerts(t *testing.T) {
	foo := alertWith(map[string]string{"alertname": "Foo", "namespace": "immich", "severity": "warning"}, now.Add(time.Hour))
	bar := alertWith(map[string]string{"alertname": "Bar", "namespace": "immich", "severity": "critical"}, now.Add(time.Hour))
	other := alertWith(map[string]string{"alertname": "Foo", "namespace": "monitoring"}, now.Add(time.Hour))
	gone := alertWith(map[string]string{"alertname": "Foo", "namespace": "immich"}, now.Add(-time.Minute))
	all := models.GettableAlerts{foo, bar, other, gone}
	tests := map[string]struct {
		matchers []string
		want     models.GettableAlerts
	}{
		"by namespace":          {matchers: []string{"namespace=immich"}, want: models.GettableAlerts{foo, bar}},
		"by name":               {matchers: []string{"Foo"}, want: models.GettableAlerts{foo, other}},
		"regex and negation":    {matchers: []string{`severity=~"warn.*|crit.*"`, "alertname!=Bar"}, want: models.GettableAlerts{foo}},
		"missing label is none": {matchers: []string{"severity=warning", "namespace!~immich"}, want: nil},
		"nothing":               {matchers: []string{"NoSuchAlert"}, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers(mustMatchers(t, tc.matchers...))
			require.NoError(t, err)
			assert.Equal(t, tc.want, CoveredAlerts(all, ms, now))
		})
	}
}

func TestParseTime(t *testing.T) {
	got, err := ParseTime("end", "2025-12-28T02:30:00+01:00")
	require.NoError(t, err)
	assert.True(t, got.Equal(time.Date(2025, 12, 28, 1, 30, 0, 0, time.UTC)))
	_, err = ParseTime("end", "tomorrow")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--end")
	assert.Equal(t, exitcode.Usage, exitcode.Code(err))
}
