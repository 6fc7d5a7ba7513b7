package prometheus

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestCheckRules(t *testing.T) {
	loaded := []RuleGroup{
		{Name: "general", File: "a.yaml", Interval: 30, Rules: []Rule{
			{Name: "Watchdog", Kind: KindAlert, Health: "ok", State: "firing"},
		}},
		{Name: "immich", File: "b.yaml", Rules: []Rule{
			{Name: "QueueStuck", Kind: KindAlert, Health: "ok", State: "inactive"},
			{Name: "job:up:sum", Kind: KindRecord, Health: "err", LastError: "many-to-many\nmatching"},
			{Name: "Broken", Kind: KindAlert, Health: "unknown"},
		}},
		{Name: "empty"},
	}
	series := []AlertSeries{
		{NoSeries: NoSeries{CanFire: true}},
		{NoSeries: NoSeries{Missing: []string{"immich_queue"}, CanFire: false}},
		{NoSeries: NoSeries{Missing: []string{"a"}, CanFire: true}},
		{ParseErr: errors.New("unexpected )")},
	}
	groups := CheckRules(loaded, series)
	require.Len(t, groups, 3)
	assert.Equal(t, []CheckedRule{}, groups[2].Rules, "an empty group lists [] in JSON, not null")

	tests := map[string]struct {
		got  CheckedRule
		want CheckedRule
	}{
		"all series there": {got: groups[0].Rules[0], want: CheckedRule{Rule: loaded[0].Rules[0]}},
		"no series: can never fire": {got: groups[1].Rules[0],
			want: CheckedRule{Rule: loaded[1].Rules[0], NoSeries: true, MissingSeries: []string{"immich_queue"}}},
		"some series missing": {got: groups[1].Rules[1],
			want: CheckedRule{Rule: loaded[1].Rules[1], MissingSeries: []string{"a"}}},
		"unparsable is not no-series": {got: groups[1].Rules[2],
			want: CheckedRule{Rule: loaded[1].Rules[2], ParseError: "unexpected )"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}

	t.Run("failing names the rules that err", func(t *testing.T) {
		err := FailingRules(groups)
		require.Error(t, err)
		assert.Equal(t, exitcode.Failure, exitcode.Code(err))
		assert.Equal(t, "1 rule fails to evaluate:\n  immich/job:up:sum: many-to-many\nmatching", err.Error())
		assert.NoError(t, FailingRules(groups[:1]))
	})

	t.Run("table", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, PrintRules(&out, groups))
		var rows [][]string
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			rows = append(rows, strings.Fields(l))
		}
		assert.Equal(t, [][]string{
			{"GROUP", "RULE", "KIND", "HEALTH", "STATE", "SERIES", "LAST", "ERROR"},
			{"general", "Watchdog", "alert", "ok", "firing", "ok"},
			{"immich", "QueueStuck", "alert", "ok", "inactive", "NONE:", "immich_queue"},
			{"immich", "job:up:sum", "record", "err", "-", "partly", "missing:", "a", "many-to-many", "matching"},
			{"immich", "Broken", "alert", "unknown", "-", "unparsable"},
		}, rows)
	})

	t.Run("no rules", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, PrintRules(&out, nil))
		assert.Equal(t, "Prometheus has no rules loaded\n", out.String())
	})
}
