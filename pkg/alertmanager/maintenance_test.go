package alertmanager

import (
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestPlanMaintenanceStart(t *testing.T) {
	marker := MaintenanceComment("upgrade")
	window := gettable("w1", StateActive, now.Add(-time.Hour), now.Add(time.Hour), marker, `namespace="immich"`)
	younger := gettable("w2", StateActive, now.Add(-time.Minute), now.Add(time.Hour), marker, `namespace="immich"`)
	expired := gettable("old", StateExpired, now.Add(-3*time.Hour), now.Add(-2*time.Hour), marker, `namespace="immich"`)
	plain := gettable("s1", StateActive, now.Add(-time.Hour), now.Add(time.Hour), "not maintenance", `namespace="immich"`)

	tests := map[string]struct {
		existing models.GettableSilences
		matchers []string
		duration time.Duration
		comment  string
		action   string
		id       string
		start    time.Time
		end      time.Time
		comm     string
		expire   []string
		wantErr  string
	}{
		"first start creates": {
			existing: models.GettableSilences{plain, expired}, matchers: []string{`namespace="immich"`}, duration: 2 * time.Hour,
			action: MaintenanceCreate, start: now, end: now.Add(2 * time.Hour), comm: MaintenanceMarker + " " + DefaultMaintenanceComment,
		},
		"start again extends in place": {
			existing: models.GettableSilences{window, plain}, matchers: []string{`namespace="immich"`}, duration: 3 * time.Hour,
			action: MaintenanceExtend, id: "w1", start: now.Add(-time.Hour), end: now.Add(3 * time.Hour), comm: marker,
		},
		"never shortens": {
			existing: models.GettableSilences{window}, matchers: []string{`namespace="immich"`}, duration: 30 * time.Minute,
			action: MaintenanceKeep,
		},
		"new comment updates only the comment": {
			existing: models.GettableSilences{window}, matchers: []string{`namespace="immich"`}, duration: 30 * time.Minute, comment: "db restore",
			action: MaintenanceRecomment, id: "w1", start: now.Add(-time.Hour), end: now.Add(time.Hour), comm: MaintenanceComment("db restore"),
		},
		"another scope gets its own window": {
			existing: models.GettableSilences{window, younger}, matchers: []string{`namespace="backup-jobs"`}, duration: 2 * time.Hour,
			action: MaintenanceCreate, start: now, end: now.Add(2 * time.Hour), comm: MaintenanceMarker + " " + DefaultMaintenanceComment,
		},
		"same matchers in another order are the same scope": {
			existing: models.GettableSilences{gettable("w3", StateActive, now.Add(-time.Hour), now.Add(time.Hour), marker, `a="1"`, `b="2"`)},
			matchers: []string{`b="2"`, `a="1"`}, duration: 2 * time.Hour,
			action: MaintenanceExtend, id: "w3", start: now.Add(-time.Hour), end: now.Add(2 * time.Hour), comm: marker,
		},
		"a subset is another scope": {
			existing: models.GettableSilences{gettable("w3", StateActive, now.Add(-time.Hour), now.Add(time.Hour), marker, `a="1"`, `b="2"`)},
			matchers: []string{`a="1"`}, duration: 2 * time.Hour,
			action: MaintenanceCreate, start: now, end: now.Add(2 * time.Hour), comm: MaintenanceMarker + " " + DefaultMaintenanceComment,
		},
		"duplicates are expired, oldest kept": {
			existing: models.GettableSilences{younger, window}, matchers: []string{`namespace="immich"`}, duration: 2 * time.Hour,
			action: MaintenanceExtend, id: "w1", start: now.Add(-time.Hour), end: now.Add(2 * time.Hour), comm: marker, expire: []string{"w2"},
		},
		"zero duration": {
			existing: models.GettableSilences{}, matchers: []string{`namespace="immich"`}, wantErr: "--duration",
		},
		"matches everything": {
			existing: models.GettableSilences{window}, matchers: []string{`namespace=~".*"`}, duration: time.Hour, wantErr: "every alert",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers(tc.matchers)
			require.NoError(t, err)
			plan, err := PlanMaintenanceStart(tc.existing, MaintenanceRequest{Matchers: ms, Duration: tc.duration, Comment: tc.comment, Author: "ops"}, now)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.action, plan.Action)
			assert.Equal(t, tc.expire, plan.Expire)
			if tc.action == MaintenanceKeep {
				assert.Nil(t, plan.Post)
				return
			}
			require.NotNil(t, plan.Post)
			assert.Equal(t, tc.id, plan.Post.ID)
			assert.Equal(t, tc.start, time.Time(*plan.Post.StartsAt))
			assert.Equal(t, tc.end, time.Time(*plan.Post.EndsAt))
			assert.Equal(t, tc.comm, *plan.Post.Comment)
			assert.True(t, IsMaintenance(&models.GettableSilence{Silence: plan.Post.Silence, Status: &models.SilenceStatus{State: ptr(StateActive)}}))
			got, err := FromAPIMatchers(plan.Post.Matchers)
			require.NoError(t, err)
			assert.True(t, SameMatchers(ms, got))
			if tc.action == MaintenanceExtend || tc.action == MaintenanceRecomment {
				assert.Equal(t, tc.existing[len(tc.existing)-1].Matchers, plan.Post.Matchers, "sent back as stored")
			}
		})
	}
}

func TestMaintenanceWindows(t *testing.T) {
	marker := MaintenanceComment("x")
	a := gettable("b-id", StateActive, now.Add(-time.Hour), now.Add(time.Hour), marker, "a=1")
	b := gettable("a-id", StateActive, now.Add(-time.Hour), now.Add(time.Hour), marker, "a=1")
	c := gettable("c-id", StatePending, now.Add(time.Hour), now.Add(2*time.Hour), marker, "a=1")
	old := gettable("old", StateExpired, now.Add(-3*time.Hour), now.Add(-2*time.Hour), marker, "a=1")
	other := gettable("other", StateActive, now.Add(-3*time.Hour), now.Add(2*time.Hour), "planned work [picluster maintenance]", "a=1")
	got := MaintenanceWindows(models.GettableSilences{c, other, a, old, b})
	ids := make([]string, len(got))
	for i, s := range got {
		ids[i] = SilenceID(s)
	}
	assert.Equal(t, []string{"a-id", "b-id", "c-id"}, ids, "same start: by ID; the marker must lead the comment")
}
