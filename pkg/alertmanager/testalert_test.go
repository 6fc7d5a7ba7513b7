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

func TestBuildTestAlert(t *testing.T) {
	tests := map[string]struct {
		labels   []string
		severity string
		after    time.Duration
		want     models.LabelSet
		wantErr  string
	}{
		"defaults": {
			severity: DefaultSeverity, after: 5 * time.Minute,
			want: models.LabelSet{"alertname": TestAlertName, "test_id": "abc", "severity": "warning"},
		},
		"extra labels": {
			labels: []string{"namespace=immich", "team=home"}, severity: "critical", after: time.Minute,
			want: models.LabelSet{"alertname": TestAlertName, "test_id": "abc", "severity": "critical", "namespace": "immich", "team": "home"},
		},
		"no severity": {
			after: time.Minute, want: models.LabelSet{"alertname": TestAlertName, "test_id": "abc"},
		},
		"empty value": {
			labels: []string{"team="}, after: time.Minute, want: models.LabelSet{"alertname": TestAlertName, "test_id": "abc", "team": ""},
		},
		"alertname is ours":     {labels: []string{"alertname=Other"}, after: time.Minute, wantErr: "sets alertname itself"},
		"test_id is ours":       {labels: []string{"test_id=x"}, after: time.Minute, wantErr: "sets test_id itself"},
		"severity has its flag": {labels: []string{"severity=info"}, after: time.Minute, wantErr: "use --severity"},
		"not a pair":            {labels: []string{"team"}, after: time.Minute, wantErr: "want name=value"},
		"bad name":              {labels: []string{"a-b=c"}, after: time.Minute, wantErr: "want name=value"},
		"zero resolve-after":    {wantErr: "--resolve-after"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, err := func() (*models.PostableAlert, error) {
				labels, err := ParseLabels(tc.labels)
				if err != nil {
					return nil, err
				}
				return BuildTestAlert(TestAlertSpec{Labels: labels, Severity: tc.severity, ResolveAfter: tc.after}, "abc", now)
			}()
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, a.Labels)
			assert.Equal(t, strfmt.DateTime(now), a.StartsAt)
			assert.Equal(t, strfmt.DateTime(now.Add(tc.after)), a.EndsAt)
			assert.NotEmpty(t, a.Annotations["summary"])
			require.NoError(t, a.Validate(strfmt.Default))

			r := Resolved(a, now.Add(time.Second))
			assert.Equal(t, a.Labels, r.Labels)
			assert.Equal(t, strfmt.DateTime(now.Add(time.Second)), r.EndsAt)
			assert.Equal(t, strfmt.DateTime(now.Add(tc.after)), a.EndsAt, "the original is left alone")
		})
	}
}

func TestNewTestIDIsUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewTestID()
		assert.Len(t, id, 12)
		assert.False(t, seen[id])
		seen[id] = true
	}
	assert.Equal(t, []string{`test_id="abc"`}, TestIDFilter("abc"))
}

func TestSuppression(t *testing.T) {
	s := gettable("11111111-2222-3333-4444-555555555555", StateActive, now.Add(-time.Hour), now.Add(time.Hour), "deploy", "alertname=PiclusterTestAlert")
	inhibitor := alertWith(map[string]string{"alertname": "InfoInhibitor", "namespace": "immich"}, now.Add(time.Hour))
	inhibitor.Fingerprint = ptr("fp-inhibitor")
	tests := map[string]struct {
		status *models.AlertStatus
		want   []string
	}{
		"not muted": {status: &models.AlertStatus{State: ptr("active")}},
		"silenced": {
			status: &models.AlertStatus{State: ptr("suppressed"), SilencedBy: []string{*s.ID}},
			want: []string{`silence 11111111-2222-3333-4444-555555555555 (alertname="PiclusterTestAlert", by ops: "deploy", ends ` +
				now.Add(time.Hour).Local().Format(time.RFC3339) + ")"},
		},
		"inhibited": {
			status: &models.AlertStatus{State: ptr("suppressed"), InhibitedBy: []string{"fp-inhibitor"}},
			want:   []string{`inhibiting alert {alertname="InfoInhibitor", namespace="immich"}`},
		},
		"unknown silence": {
			status: &models.AlertStatus{State: ptr("suppressed"), SilencedBy: []string{"gone"}},
			want:   []string{"silence gone"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := &models.GettableAlert{Status: tc.status}
			assert.Equal(t, tc.want, Suppression(a, models.GettableSilences{s}, models.GettableAlerts{inhibitor}))
		})
	}
}
