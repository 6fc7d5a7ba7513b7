package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/duration"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Silence states as Alertmanager reports them.
const (
	StateActive  = models.SilenceStatusStateActive
	StatePending = models.SilenceStatusStatePending
	StateExpired = models.SilenceStatusStateExpired
)

// SilenceRequest is what `silence add` asks for. Exactly one of End and Duration
// is set; a zero Start means now.
type SilenceRequest struct {
	Matchers labels.Matchers
	Start    time.Time
	End      time.Time
	Duration time.Duration
	Comment  string
	Author   string
}

// ParseTime reads an RFC 3339 time (2006-01-02T15:04:05Z07:00) as amtool does,
// naming the flag. Errors exit 2.
func ParseTime(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, exitcode.BadUsage(fmt.Errorf("--%s %q: not an RFC 3339 time such as 2025-12-28T02:30:00+01:00", flag, s))
	}
	return t, nil
}

// BuildSilence validates req and returns the silence to post. It refuses bad
// matchers, an end not after the start or already past, and an empty comment or
// author; those errors exit 2.
func BuildSilence(req SilenceRequest, now time.Time) (*models.PostableSilence, error) {
	if err := CheckSilenceMatchers(req.Matchers); err != nil {
		return nil, err
	}
	start := req.Start
	if start.IsZero() {
		start = now
	}
	end := req.End
	switch {
	case !end.IsZero() && req.Duration != 0:
		return nil, exitcode.BadUsage(errors.New("give either --duration or --end, not both"))
	case end.IsZero() && req.Duration == 0:
		return nil, exitcode.BadUsage(errors.New("give --duration (e.g. 2h) or --end"))
	case req.Duration < 0:
		return nil, exitcode.BadUsage(fmt.Errorf("--duration %s: must be greater than 0", req.Duration))
	case end.IsZero():
		end = start.Add(req.Duration)
	}
	if !end.After(start) {
		return nil, exitcode.BadUsage(fmt.Errorf("the silence would end (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339)))
	}
	if !end.After(now) {
		return nil, exitcode.BadUsage(fmt.Errorf("the silence would end in the past (%s)", end.Format(time.RFC3339)))
	}
	if strings.TrimSpace(req.Comment) == "" {
		return nil, exitcode.BadUsage(errors.New("a comment is required: say why with --comment"))
	}
	if strings.TrimSpace(req.Author) == "" {
		return nil, exitcode.BadUsage(errors.New("an author is required: set --author"))
	}
	return newPostable("", APIMatchers(req.Matchers), start, end, req.Author, req.Comment), nil
}

// ExtendSilence returns s with its end moved later by d: the update Alertmanager
// applies in place, keeping the ID. Matchers and start are sent back exactly as
// stored, since any difference makes Alertmanager replace the silence. An expired
// silence cannot be extended (exit 2).
func ExtendSilence(s *models.GettableSilence, d time.Duration, now time.Time) (*models.PostableSilence, error) {
	if d <= 0 {
		return nil, exitcode.BadUsage(fmt.Errorf("--duration %s: must be greater than 0", d))
	}
	if State(s) == StateExpired {
		return nil, exitcode.BadUsage(fmt.Errorf("silence %s has expired: create a new one with `silence add`", SilenceID(s)))
	}
	end := time.Time(*s.EndsAt).Add(d)
	return updated(s, time.Time(*s.StartsAt), end, *s.Comment), nil
}

// updated is s with new times and comment, ready to post under the same ID.
func updated(s *models.GettableSilence, start, end time.Time, comment string) *models.PostableSilence {
	createdBy := ""
	if s.CreatedBy != nil {
		createdBy = *s.CreatedBy
	}
	p := newPostable(SilenceID(s), s.Matchers, start, end, createdBy, comment)
	p.Annotations = s.Annotations
	return p
}

func newPostable(id string, ms models.Matchers, start, end time.Time, author, comment string) *models.PostableSilence {
	s, e := strfmt.DateTime(start.UTC()), strfmt.DateTime(end.UTC())
	return &models.PostableSilence{
		ID: id,
		Silence: models.Silence{
			Matchers:  ms,
			StartsAt:  &s,
			EndsAt:    &e,
			CreatedBy: &author,
			Comment:   &comment,
		},
	}
}

// SilenceID returns s's ID, or "" when absent.
func SilenceID(s *models.GettableSilence) string {
	if s == nil || s.ID == nil {
		return ""
	}
	return *s.ID
}

// State returns s's state (active, pending or expired).
func State(s *models.GettableSilence) string {
	if s == nil || s.Status == nil || s.Status.State == nil {
		return ""
	}
	return *s.Status.State
}

// FilterSilences keeps the expired silences when expired is set, else the active
// and pending ones; the result is sorted by end time, then ID.
func FilterSilences(all models.GettableSilences, expired bool) models.GettableSilences {
	out := make(models.GettableSilences, 0, len(all))
	for _, s := range all {
		if (State(s) == StateExpired) == expired {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *models.GettableSilence) int {
		if c := time.Time(*a.EndsAt).Compare(time.Time(*b.EndsAt)); c != 0 {
			return c
		}
		return strings.Compare(SilenceID(a), SilenceID(b))
	})
	return out
}

// CoveredAlerts returns the alerts whose labels the matchers match: what a silence
// with these matchers mutes. Alerts already resolved are left out.
func CoveredAlerts(alerts models.GettableAlerts, ms labels.Matchers, now time.Time) models.GettableAlerts {
	var out models.GettableAlerts
	for _, a := range alerts {
		if a == nil || (a.EndsAt != nil && !time.Time(*a.EndsAt).IsZero() && time.Time(*a.EndsAt).Before(now)) {
			continue
		}
		if ms.Matches(LabelSet(a.Labels)) {
			out = append(out, a)
		}
	}
	return out
}

// Covered returns the alerts Alertmanager holds that the matchers match: what a
// silence with them would mute now. Alertmanager filters by the matchers itself, so
// only those alerts travel; should it refuse the filter (an older parser), every
// alert is fetched and matched here.
func (c *Client) Covered(ctx context.Context, ms labels.Matchers) (models.GettableAlerts, error) {
	alerts, err := c.Alerts(ctx, FilterStrings(ms))
	if exitcode.Code(err) == exitcode.Usage && !isConnectionError(err) {
		alerts, err = c.Alerts(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	covered := CoveredAlerts(alerts, ms, time.Now())
	SortAlerts(covered)
	return covered, nil
}

// LabelSet converts the API's labels to a Prometheus label set.
func LabelSet(ls models.LabelSet) model.LabelSet {
	out := make(model.LabelSet, len(ls))
	for k, v := range ls {
		out[model.LabelName(k)] = model.LabelValue(v)
	}
	return out
}

// LongSilence is how long a silence may last before the commands warn: a year. A
// longer one (-d 100000d ends in the 23rd century) is a typo, or an alert that should
// be changed or removed rather than muted; it is still created.
const LongSilence = 365 * 24 * time.Hour

// LongSilenceWarning returns the warning for a silence that lasts from start to end,
// or "" when it lasts at most LongSilence.
func LongSilenceWarning(start, end time.Time) string {
	if end.Sub(start) <= LongSilence {
		return ""
	}
	return fmt.Sprintf("Warning: the silence lasts %s, until %s, more than a year: if the alert should never fire, change or remove its rule instead",
		duration.Format(end.Sub(start).Round(time.Second)), FormatTime(end))
}
