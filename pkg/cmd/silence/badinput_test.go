package silence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// TestBadInputChangesNothing runs every bad input of the silence commands against a
// real Alertmanager: each exits 2 naming the problem, and the silences, checked
// through the API, are exactly as before.
func TestBadInputChangesNothing(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Existing", "-d", "1h", "-c", "kept")
	require.NoError(t, r.Err)
	existing := strings.TrimSpace(r.Stdout)
	expired := strings.TrimSpace(plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Old", "-d", "1h", "-c", "old").Stdout)
	require.NoError(t, plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "expire", expired).Err)
	unknown := "00000000-1111-2222-3333-444444444444"
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	earlier := time.Now().Add(-2 * time.Hour).Format(time.RFC3339)
	later := time.Now().Add(2 * time.Hour).Format(time.RFC3339)
	soon := time.Now().Add(time.Hour).Format(time.RFC3339)

	tests := map[string]struct {
		args []string
		want string
	}{
		"amtool's trap":              {args: []string{"add", "alertname=~(", "-d", "1h", "-c", "c"}, want: `invalid matcher "alertname=~("`},
		"unterminated quote":         {args: []string{"add", `severity=~"warn`, "-d", "1h", "-c", "c"}, want: "invalid matcher"},
		"bad regex":                  {args: []string{"add", `job=~"[a-"`, "-d", "1h", "-c", "c"}, want: "invalid matcher"},
		"second bare word":           {args: []string{"add", "Foo", "Bar", "-d", "1h", "-c", "c"}, want: "only the first argument may be a bare alertname"},
		"matches every alert":        {args: []string{"add", `alertname=~".*"`, "-d", "1h", "-c", "c"}, want: "would silence every alert"},
		"no matcher":                 {args: []string{"add", "-d", "1h", "-c", "c"}, want: "requires at least 1 arg"},
		"zero duration":              {args: []string{"add", "Foo", "-d", "0s", "-c", "c"}, want: `invalid argument "0s" for "-d, --duration" flag: must be greater than 0`},
		"negative duration":          {args: []string{"add", "Foo", "-d", "-1h", "-c", "c"}, want: `invalid argument "-1h" for "-d, --duration" flag: must be greater than 0`},
		"not a duration":             {args: []string{"add", "Foo", "-d", "soon", "-c", "c"}, want: `invalid argument "soon" for "-d, --duration" flag: not a duration`},
		"no duration or end":         {args: []string{"add", "Foo", "-c", "c"}, want: "give --duration"},
		"duration and end":           {args: []string{"add", "Foo", "-d", "1h", "--end", later, "-c", "c"}, want: "not both"},
		"end before start":           {args: []string{"add", "Foo", "--start", later, "--end", soon, "-c", "c"}, want: "before it starts"},
		"end in the past":            {args: []string{"add", "Foo", "--start", earlier, "--end", past, "-c", "c"}, want: "end in the past"},
		"bad end":                    {args: []string{"add", "Foo", "--end", "tomorrow", "-c", "c"}, want: `--end "tomorrow": not an RFC 3339 time`},
		"bad start":                  {args: []string{"add", "Foo", "--start", "now", "-d", "1h", "-c", "c"}, want: "--start"},
		"empty comment":              {args: []string{"add", "Foo", "-d", "1h", "-c", " "}, want: "comment is required"},
		"no comment":                 {args: []string{"add", "Foo", "-d", "1h"}, want: "comment is required"},
		"empty author":               {args: []string{"add", "Foo", "-d", "1h", "-c", "c", "--author", ""}, want: "author"},
		"unknown flag":               {args: []string{"add", "Foo", "-d", "1h", "-c", "c", "--durration", "1h"}, want: "unknown flag"},
		"expire unknown ID":          {args: []string{"expire", unknown}, want: "silence " + unknown + " not found"},
		"expire known and unknown":   {args: []string{"expire", existing, unknown}, want: "not found"},
		"expire malformed ID":        {args: []string{"expire", existing, "abc"}, want: `"abc" is not a silence ID`},
		"extend unknown ID":          {args: []string{"extend", unknown, "-d", "1h"}, want: "not found"},
		"extend malformed ID":        {args: []string{"extend", "abc", "-d", "1h"}, want: "is not a silence ID"},
		"extend without duration":    {args: []string{"extend", existing}, want: "--duration is required"},
		"extend by zero":             {args: []string{"extend", existing, "-d", "0m"}, want: "must be greater than 0"},
		"extend by negative":         {args: []string{"extend", existing, "-d", "-1h"}, want: `invalid argument "-1h" for "-d, --duration" flag: must be greater than 0`},
		"extend an expired silence":  {args: []string{"extend", expired, "-d", "1h"}, want: "has expired"},
		"extend two IDs":             {args: []string{"extend", existing, existing, "-d", "1h"}, want: "accepts 1 arg"},
		"list with a bad matcher":    {args: []string{"list", "job=~("}, want: "invalid matcher"},
		"list in an unknown format":  {args: []string{"list", "-o", "xml"}, want: `unsupported output format "xml"`},
		"unknown silence subcommand": {args: []string{"mute", "Foo"}, want: `unknown command "mute"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := amtest.Silences(t, srv.URL)
			r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "silence"}, tc.args...)...)
			require.Error(t, r.Err)
			assert.Equal(t, exitcode.Usage, r.Code, "%v", r.Err)
			assert.Contains(t, r.Err.Error(), tc.want)
			assert.Empty(t, r.Stdout)
			after := amtest.Silences(t, srv.URL)
			assert.Equal(t, before, after, "silences unchanged")
		})
	}
	assert.Equal(t, am.StateActive, am.State(byID(t, srv.URL, existing)))
}

func TestAlertmanagerUnreachable(t *testing.T) {
	closed := amtest.ClosedURL(t)
	id := "00000000-1111-2222-3333-444444444444"
	for name, args := range map[string][]string{
		"add":    {"silence", "add", "Foo", "-d", "1h", "-c", "c"},
		"list":   {"silence", "list"},
		"expire": {"silence", "expire", id},
		"extend": {"silence", "extend", id, "-d", "1h"},
	} {
		t.Run(name, func(t *testing.T) {
			r := plugintest.Run(t, append([]string{"--alertmanager-url", closed}, args...)...)
			require.Error(t, r.Err)
			assert.Equal(t, exitcode.Usage, r.Code)
			assert.Contains(t, r.Err.Error(), "cannot reach Alertmanager")
		})
	}
}
