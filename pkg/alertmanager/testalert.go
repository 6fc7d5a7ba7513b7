package alertmanager

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// The synthetic alert of `alert test`.
const (
	TestAlertName   = "PiclusterTestAlert"
	TestIDLabel     = "test_id"
	DefaultSeverity = "warning"
)

// TestAlertSpec describes the synthetic alert.
type TestAlertSpec struct {
	// Labels are added to alertname, test_id and severity.
	Labels map[string]string
	// Severity is the severity label; empty leaves it out.
	Severity string
	// ResolveAfter is when Alertmanager resolves the alert by itself, counted from now.
	ResolveAfter time.Duration
}

// NewTestID returns a fresh random test_id.
func NewTestID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// ParseLabels reads k=v pairs (from --label) into a label set; names must be
// Prometheus label names. Errors exit 2.
func ParseLabels(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !model.LegacyValidation.IsValidLabelName(k) {
			return nil, exitcode.BadUsage(fmt.Errorf("--label %q: want name=value with a label name such as team or namespace", p))
		}
		out[k] = v
	}
	return out, nil
}

// BuildTestAlert returns the synthetic alert: PiclusterTestAlert with a unique
// test_id, firing from now until ResolveAfter. Errors exit 2.
func BuildTestAlert(spec TestAlertSpec, testID string, now time.Time) (*models.PostableAlert, error) {
	if spec.ResolveAfter <= 0 {
		return nil, exitcode.BadUsage(fmt.Errorf("--resolve-after %s: must be greater than 0", spec.ResolveAfter))
	}
	labels := models.LabelSet{}
	for k, v := range spec.Labels {
		switch k {
		case string(model.AlertNameLabel), TestIDLabel:
			return nil, exitcode.BadUsage(fmt.Errorf("--label %s: the test alert sets %s itself", k, k))
		case "severity":
			return nil, exitcode.BadUsage(fmt.Errorf("--label severity: use --severity"))
		}
		labels[k] = v
	}
	labels[string(model.AlertNameLabel)] = TestAlertName
	labels[TestIDLabel] = testID
	if spec.Severity != "" {
		labels["severity"] = spec.Severity
	}
	end := now.Add(spec.ResolveAfter)
	return &models.PostableAlert{
		Alert:    models.Alert{Labels: labels},
		StartsAt: strfmt.DateTime(now.UTC()),
		EndsAt:   strfmt.DateTime(end.UTC()),
		Annotations: models.LabelSet{
			"summary": "Test alert from kubectl picluster: nothing is wrong",
			"description": fmt.Sprintf("Sent with `kubectl picluster alert test` to check that alerts reach their receiver; "+
				"it resolves by itself at %s.", end.UTC().Format(time.RFC3339)),
		},
	}, nil
}

// Resolved returns a copy of a that ends at now, which resolves it.
func Resolved(a *models.PostableAlert, now time.Time) *models.PostableAlert {
	r := *a
	r.Labels = maps.Clone(a.Labels)
	r.EndsAt = strfmt.DateTime(now.UTC())
	return &r
}

// TestIDFilter is the API filter that finds the test alert.
func TestIDFilter(testID string) []string {
	return []string{fmt.Sprintf("%s=%q", TestIDLabel, testID)}
}

// AlertState returns an alert's state: active, suppressed or unprocessed.
func AlertState(a *models.GettableAlert) string {
	if a == nil || a.Status == nil || a.Status.State == nil {
		return ""
	}
	return *a.Status.State
}

// ReceiverNames lists the receivers an alert routes to.
func ReceiverNames(a *models.GettableAlert) []string {
	var out []string
	for _, r := range a.Receivers {
		if r != nil && r.Name != nil {
			out = append(out, *r.Name)
		}
	}
	return out
}

// RouteIntegrations returns the integrations of the receivers, each once.
func RouteIntegrations(receivers []string, byReceiver map[string][]Integration) []Integration {
	merged := map[string]Integration{}
	for _, r := range receivers {
		for _, in := range byReceiver[r] {
			m := merged[in.Name]
			m.Name = in.Name
			m.Configs += in.Configs
			m.SendResolved = m.SendResolved || in.SendResolved
			merged[in.Name] = m
		}
	}
	out := make([]Integration, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, merged[k])
	}
	return out
}

// Suppression explains why an alert is muted: the silences and inhibiting alerts,
// described from what Alertmanager holds. Empty when it is not muted.
func Suppression(a *models.GettableAlert, silences models.GettableSilences, alerts models.GettableAlerts) []string {
	if a == nil || a.Status == nil {
		return nil
	}
	var out []string
	for _, id := range a.Status.SilencedBy {
		desc := "silence " + id
		for _, s := range silences {
			if SilenceID(s) == id {
				desc = fmt.Sprintf("silence %s (%s, by %s: %q, ends %s)", id, FormatAPIMatchers(s.Matchers),
					deref(s.CreatedBy), deref(s.Comment), time.Time(*s.EndsAt).Local().Format(time.RFC3339))
			}
		}
		out = append(out, desc)
	}
	for _, fp := range a.Status.InhibitedBy {
		desc := "inhibiting alert " + fp
		for _, other := range alerts {
			if other.Fingerprint != nil && *other.Fingerprint == fp {
				desc = "inhibiting alert " + LabelSet(other.Labels).String()
			}
		}
		out = append(out, desc)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
