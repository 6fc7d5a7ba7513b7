package alertmanager

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// timeLayout is how tables show times: local, to the second, with the zone.
const timeLayout = "2006-01-02 15:04:05 MST"

// FormatTime shows t in the local zone, or "-" when zero.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// PrintSilences writes silences as a table: ID, matchers, start, end, creator,
// comment and state.
func PrintSilences(w io.Writer, silences models.GettableSilences) error {
	rows := make([][]string, 0, len(silences))
	for _, s := range silences {
		rows = append(rows, []string{
			SilenceID(s), FormatAPIMatchers(s.Matchers),
			FormatTime(time.Time(*s.StartsAt)), FormatTime(time.Time(*s.EndsAt)),
			deref(s.CreatedBy), oneLine(deref(s.Comment)), State(s),
		})
	}
	return output.PrintTable(w, []string{"ID", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT", "STATE"}, rows)
}

// PrintMaintenance writes maintenance windows as a table: ID, matchers, state, end,
// time remaining, how many alerts they mute, and the comment without its marker.
func PrintMaintenance(w io.Writer, windows []MaintenanceStatus) error {
	rows := make([][]string, 0, len(windows))
	for _, mw := range windows {
		s := mw.Silence
		end := time.Time(*s.EndsAt)
		rows = append(rows, []string{
			SilenceID(s), FormatAPIMatchers(s.Matchers), State(s),
			FormatTime(end), time.Until(end).Round(time.Second).String(),
			strconv.Itoa(len(mw.Covered)), strings.TrimSpace(strings.TrimPrefix(*s.Comment, MaintenanceMarker)),
		})
	}
	return output.PrintTable(w, []string{"ID", "MATCHERS", "STATE", "ENDS", "REMAINING", "MUTED ALERTS", "COMMENT"}, rows)
}

// PrintAlerts writes alerts as a table: name, state, severity, start, the other
// labels, and what mutes them.
func PrintAlerts(w io.Writer, alerts models.GettableAlerts) error {
	rows := make([][]string, 0, len(alerts))
	for _, a := range alerts {
		rows = append(rows, []string{
			a.Labels[string(model.AlertNameLabel)], AlertState(a), a.Labels["severity"],
			FormatTime(time.Time(*a.StartsAt)), otherLabels(a.Labels), mutedBy(a),
		})
	}
	return output.PrintTable(w, []string{"ALERTNAME", "STATE", "SEVERITY", "STARTS", "LABELS", "MUTED BY"}, rows)
}

// DescribeAlerts writes one line per alert: its labels in braces.
func DescribeAlerts(w io.Writer, alerts models.GettableAlerts) {
	for _, a := range alerts {
		fmt.Fprintf(w, "  %s%s\n", output.Escape(a.Labels[string(model.AlertNameLabel)]), output.Escape(braces(otherLabels(a.Labels))))
	}
}

// SortAlerts orders alerts by name, then start, then fingerprint.
func SortAlerts(alerts models.GettableAlerts) {
	slices.SortStableFunc(alerts, func(a, b *models.GettableAlert) int {
		if c := strings.Compare(a.Labels[string(model.AlertNameLabel)], b.Labels[string(model.AlertNameLabel)]); c != 0 {
			return c
		}
		if c := time.Time(*a.StartsAt).Compare(time.Time(*b.StartsAt)); c != 0 {
			return c
		}
		return strings.Compare(deref(a.Fingerprint), deref(b.Fingerprint))
	})
}

func braces(s string) string {
	if s == "" {
		return ""
	}
	return "{" + s + "}"
}

// otherLabels formats every label but alertname and severity as name="value".
func otherLabels(ls models.LabelSet) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		if k == string(model.AlertNameLabel) || k == "severity" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, ls[k]))
	}
	return strings.Join(parts, ",")
}

func mutedBy(a *models.GettableAlert) string {
	if a.Status == nil {
		return ""
	}
	var parts []string
	for _, id := range a.Status.SilencedBy {
		parts = append(parts, "silence "+id)
	}
	for _, fp := range a.Status.InhibitedBy {
		parts = append(parts, "alert "+fp)
	}
	return strings.Join(parts, ", ")
}

// oneLine keeps a comment on one table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
