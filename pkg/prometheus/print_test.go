package prometheus

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrintTargets(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		target Target
		row    []string // the row's words, as strings.Fields splits them
	}{
		"scraped seconds ago": {
			target: Target{Job: "node", Instance: "10.0.0.1:9100", Health: HealthUp, LastScrape: now.Add(-5 * time.Second), LastScrapeDuration: 0.0123},
			row:    []string{"node", "10.0.0.1:9100", "up", "5s", "ago", "12ms"},
		},
		"minutes ago, error on one line": {
			target: Target{Job: "immich", Instance: "immich:8081", Health: HealthDown, LastScrape: now.Add(-3 * time.Minute), LastScrapeDuration: 1.0004, LastError: "dial tcp:\n  connection refused"},
			row:    []string{"immich", "immich:8081", "down", "3m", "ago", "1000ms", "dial", "tcp:", "connection", "refused"},
		},
		"hours ago": {
			target: Target{Job: "pg", Instance: "pg:9187", Health: HealthUp, LastScrape: now.Add(-26 * time.Hour)},
			row:    []string{"pg", "pg:9187", "up", "26h", "ago", "0ms"},
		},
		"never scraped": {
			target: Target{Job: "new", Instance: "x:1", Health: HealthUnknown},
			row:    []string{"new", "x:1", "unknown", "never", "-"},
		},
		"a clock a little ahead is not negative": {
			target: Target{Job: "skew", Instance: "y:1", Health: HealthUp, LastScrape: now.Add(2 * time.Second), LastScrapeDuration: 0.001},
			row:    []string{"skew", "y:1", "up", "0s", "ago", "1ms"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, PrintTargets(&out, []Target{tc.target}, now))
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			require.Len(t, lines, 2, out.String())
			assert.Equal(t, []string{"JOB", "INSTANCE", "HEALTH", "LAST", "SCRAPE", "DURATION", "ERROR"}, strings.Fields(lines[0]))
			assert.Equal(t, tc.row, strings.Fields(lines[1]))
		})
	}
}
