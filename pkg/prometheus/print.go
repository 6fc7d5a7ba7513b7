package prometheus

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// PrintTargets writes targets as a table: job, instance, health, how long ago
// they were last scraped (from now), how long that took, and the last error.
func PrintTargets(w io.Writer, targets []Target, now time.Time) error {
	rows := make([][]string, 0, len(targets))
	for _, t := range targets {
		last, took := "never", "-"
		if !t.LastScrape.IsZero() {
			last = ago(now, t.LastScrape)
			took = fmt.Sprintf("%dms", int(t.LastScrapeDuration*1000+0.5))
		}
		rows = append(rows, []string{t.Job, t.Instance, t.Health, last, took, oneLine(t.LastError)})
	}
	return output.PrintTable(w, []string{"JOB", "INSTANCE", "HEALTH", "LAST SCRAPE", "DURATION", "ERROR"}, rows)
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh ago", int(d.Hours()))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
