package alertmanager

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// MaintenanceMarker starts the comment of a maintenance window's silence;
// `maintenance start|status|stop` find the windows by it. There is one window per
// scope (its set of matchers): a window for backup-jobs and one for Immich run side
// by side, and starting one never touches the other.
const MaintenanceMarker = "[picluster maintenance]"

// DefaultMaintenanceComment is the comment when none is given.
const DefaultMaintenanceComment = "maintenance window"

// Actions a maintenance start can take.
const (
	MaintenanceCreate = "created"
	MaintenanceExtend = "extended"
	// MaintenanceRecomment: the window already runs long enough; only its comment changed.
	MaintenanceRecomment = "commented"
	MaintenanceKeep      = "unchanged"
)

// MaintenanceRequest is what `maintenance start` asks for.
type MaintenanceRequest struct {
	Matchers labels.Matchers
	Duration time.Duration
	// Comment is the reason; the marker is added. Empty keeps the current one.
	Comment string
	Author  string
}

// MaintenancePlan is what starting a maintenance window does to the silences.
type MaintenancePlan struct {
	// Action is one of MaintenanceCreate, -Extend, -Recomment or -Keep.
	Action string
	// Post is the silence to create or update; nil for MaintenanceKeep.
	Post *models.PostableSilence
	// Current is the window of the same scope that already exists, if any.
	Current *models.GettableSilence
	// Expire lists further windows of the same scope (a lost race) to expire, so
	// exactly one remains per scope.
	Expire []string
}

// IsMaintenance tells whether s is a maintenance window that has not expired.
func IsMaintenance(s *models.GettableSilence) bool {
	return State(s) != StateExpired && s.Comment != nil && strings.HasPrefix(*s.Comment, MaintenanceMarker)
}

// MaintenanceWindows returns the windows among all, oldest first (by start, then ID),
// so that concurrent starts agree on which one to keep.
func MaintenanceWindows(all models.GettableSilences) []*models.GettableSilence {
	var out []*models.GettableSilence
	for _, s := range all {
		if IsMaintenance(s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *models.GettableSilence) int {
		if c := time.Time(*a.StartsAt).Compare(time.Time(*b.StartsAt)); c != 0 {
			return c
		}
		return strings.Compare(SilenceID(a), SilenceID(b))
	})
	return out
}

// ScopeWindows returns the windows among all whose matchers are the set ms (in any
// order), oldest first. Windows it cannot read the matchers of belong to no scope.
func ScopeWindows(all models.GettableSilences, ms labels.Matchers) []*models.GettableSilence {
	var out []*models.GettableSilence
	for _, s := range MaintenanceWindows(all) {
		if got, err := FromAPIMatchers(s.Matchers); err == nil && SameMatchers(got, ms) {
			out = append(out, s)
		}
	}
	return out
}

// MaintenanceComment is the silence comment of a window: the marker and the reason.
func MaintenanceComment(reason string) string {
	if strings.TrimSpace(reason) == "" {
		reason = DefaultMaintenanceComment
	}
	return MaintenanceMarker + " " + strings.TrimSpace(reason)
}

// PlanMaintenanceStart decides how to start the window of req's scope lasting
// req.Duration from now: create one when the scope has none; otherwise keep exactly
// one, extended when the new end is later (never shortened). Windows of other scopes
// are not looked at.
func PlanMaintenanceStart(existing models.GettableSilences, req MaintenanceRequest, now time.Time) (MaintenancePlan, error) {
	if err := CheckSilenceMatchers(req.Matchers); err != nil {
		return MaintenancePlan{}, err
	}
	if req.Duration <= 0 {
		return MaintenancePlan{}, exitcode.BadUsage(fmt.Errorf("--duration %s: must be greater than 0", req.Duration))
	}
	windows := ScopeWindows(existing, req.Matchers)
	if len(windows) == 0 {
		post, err := BuildSilence(SilenceRequest{
			Matchers: req.Matchers, Duration: req.Duration, Comment: MaintenanceComment(req.Comment), Author: req.Author,
		}, now)
		return MaintenancePlan{Action: MaintenanceCreate, Post: post}, err
	}
	cur := windows[0]
	plan := MaintenancePlan{Current: cur}
	for _, s := range windows[1:] {
		plan.Expire = append(plan.Expire, SilenceID(s))
	}
	comment := *cur.Comment
	if strings.TrimSpace(req.Comment) != "" {
		comment = MaintenanceComment(req.Comment)
	}
	want := now.Add(req.Duration)
	end := time.Time(*cur.EndsAt)
	switch {
	case want.After(end):
		plan.Action = MaintenanceExtend
		plan.Post = updated(cur, time.Time(*cur.StartsAt), want, comment)
	case comment != *cur.Comment:
		plan.Action = MaintenanceRecomment
		plan.Post = updated(cur, time.Time(*cur.StartsAt), end, comment)
	default:
		plan.Action = MaintenanceKeep
	}
	return plan, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// MaintenanceResult is the window after a start.
type MaintenanceResult struct {
	Action   string    `json:"action"`
	ID       string    `json:"id"`
	Matchers string    `json:"matchers"`
	EndsAt   time.Time `json:"endsAt"`
	// Expired lists duplicate windows that were expired.
	Expired []string `json:"expired,omitempty"`
}

// StartMaintenance starts or extends the window of req's scope. After applying the
// plan it looks again, and if a concurrent start of the same scope created a second
// window it keeps the oldest (every racer picks the same) and expires the rest.
func (c *Client) StartMaintenance(ctx context.Context, req MaintenanceRequest) (*MaintenanceResult, error) {
	all, err := c.Silences(ctx, nil)
	if err != nil {
		return nil, err
	}
	plan, err := PlanMaintenanceStart(all, req, time.Now())
	if err != nil {
		return nil, err
	}
	res := &MaintenanceResult{Action: plan.Action}
	if plan.Post != nil {
		if res.ID, err = c.PostSilence(ctx, plan.Post); err != nil {
			return nil, err
		}
	} else {
		res.ID = SilenceID(plan.Current)
	}
	for _, id := range plan.Expire {
		if err := c.ExpireSilence(ctx, id); err != nil {
			return nil, err
		}
		res.Expired = append(res.Expired, id)
	}
	all, err = c.Silences(ctx, nil)
	if err != nil {
		return nil, err
	}
	windows := ScopeWindows(all, req.Matchers)
	if len(windows) == 0 {
		return nil, fmt.Errorf("start maintenance: silence %s vanished", res.ID)
	}
	for _, s := range windows[1:] {
		if err := c.ExpireSilence(ctx, SilenceID(s)); err != nil {
			return nil, err
		}
		res.Expired = append(res.Expired, SilenceID(s))
	}
	kept := windows[0]
	res.ID, res.EndsAt, res.Matchers = SilenceID(kept), time.Time(*kept.EndsAt), FormatAPIMatchers(kept.Matchers)
	return res, nil
}

// StopMaintenance expires the windows of the scope ms, or every window when ms is
// nil, and returns their IDs. Windows of other scopes keep running.
func (c *Client) StopMaintenance(ctx context.Context, ms labels.Matchers) ([]string, error) {
	all, err := c.Silences(ctx, nil)
	if err != nil {
		return nil, err
	}
	windows := MaintenanceWindows(all)
	if ms != nil {
		windows = ScopeWindows(all, ms)
	}
	var ids []string
	for _, s := range windows {
		if err := c.ExpireSilence(ctx, SilenceID(s)); err != nil {
			return ids, err
		}
		ids = append(ids, SilenceID(s))
	}
	return ids, nil
}

// MaintenanceStatus is a window with the alerts it mutes now.
type MaintenanceStatus struct {
	Silence *models.GettableSilence `json:"silence"`
	Covered models.GettableAlerts   `json:"covered"`
}

// Maintenance returns every current window (one per scope) and what it mutes.
func (c *Client) Maintenance(ctx context.Context) ([]MaintenanceStatus, error) {
	all, err := c.Silences(ctx, nil)
	if err != nil {
		return nil, err
	}
	windows := MaintenanceWindows(all)
	if len(windows) == 0 {
		return []MaintenanceStatus{}, nil
	}
	alerts, err := c.Alerts(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]MaintenanceStatus, 0, len(windows))
	for _, s := range windows {
		ms, err := FromAPIMatchers(s.Matchers)
		if err != nil {
			return nil, fmt.Errorf("maintenance silence %s: %w", SilenceID(s), err)
		}
		covered := CoveredAlerts(alerts, ms, time.Now())
		if covered == nil {
			covered = models.GettableAlerts{}
		}
		out = append(out, MaintenanceStatus{Silence: s, Covered: covered})
	}
	return out, nil
}
