package silence_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
)

// postSilence creates a silence through Alertmanager's HTTP API directly, as anyone who
// can reach Alertmanager could, and returns its ID.
func postSilence(t *testing.T, url, createdBy, comment string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": "Hostile", "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339),
		"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"createdBy": createdBy,
		"comment":   comment,
	})
	require.NoError(t, err)
	resp, err := http.Post(url+"/api/v2/silences", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.SilenceID
}

// Silence comments come from anyone who can post to Alertmanager: the table escapes
// control characters (colours, the window title, the bell) and cuts a 100 KB comment
// (-o wide shows it in full), while -o json and yaml keep every byte.
func TestListIsTerminalSafe(t *testing.T) {
	srv, _ := amtest.Start(t)
	hostile := "red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 bell\x07 csi\u009b2J rtl\u202eevil"
	huge := strings.Repeat("x", 100*1024)
	postSilence(t, srv.URL, "mallory\x1b[2J", hostile)
	postSilence(t, srv.URL, "bob", huge)

	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list")
	require.NoError(t, r.Err, r.Stderr)
	for _, c := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
		assert.NotContains(t, r.Stdout, c, "no control character reaches the terminal")
	}
	assert.Contains(t, r.Stdout, `red ^[[31mALERT^[[0m ^[]0;pwned^G bell^G csi\u009b2J rtl\u202eevil`)
	assert.Contains(t, r.Stdout, "mallory^[[2J")
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines {
		assert.Less(t, len([]rune(l)), 400, "the 100 KB comment is cut in the table: %.120q", l)
	}
	assert.Contains(t, r.Stdout, " "+strings.Repeat("x", 66)+"…"+strings.Repeat("x", 33)+" ")

	// -o wide prints every cell in full, still escaped.
	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "-o", "wide")
	require.NoError(t, r.Err, r.Stderr)
	assert.Contains(t, r.Stdout, " "+huge+" ")
	assert.Contains(t, r.Stdout, `red ^[[31mALERT^[[0m ^[]0;pwned^G bell^G csi\u009b2J rtl\u202eevil`)
	assert.NotContains(t, r.Stdout, "\x1b")

	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "-o", format)
			require.NoError(t, r.Err, r.Stderr)
			js := []byte(r.Stdout)
			if format == "yaml" {
				var err error
				js, err = yaml.YAMLToJSON(js)
				require.NoError(t, err)
			}
			var got []struct {
				Comment   string `json:"comment"`
				CreatedBy string `json:"createdBy"`
			}
			require.NoError(t, json.Unmarshal(js, &got))
			comments := map[string]string{}
			for _, s := range got {
				comments[s.CreatedBy] = s.Comment
			}
			assert.Equal(t, hostile, comments["mallory\x1b[2J"], "verbatim in %s", format)
			assert.Equal(t, huge, comments["bob"], "in full in %s", format)
		})
	}
}

// A silence longer than a year is created with a warning (-d 100000d ends in the
// 23rd century: a typo, or an alert that should be changed instead); a week is not.
func TestAddWarnsAboutAVeryLongSilence(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Foo", "-d", "100000d", "-c", "forever")
	require.NoError(t, r.Err, r.Stderr)
	assert.Regexp(t, `Warning: the silence lasts 100000d, until \d{4}-`, r.Stderr)
	assert.Contains(t, r.Stderr, "more than a year")
	id := strings.TrimSpace(r.Stdout)
	s := byID(t, srv.URL, id)
	assert.Greater(t, time.Time(*s.EndsAt).Year(), 2200, "created all the same")

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Foo", "-d", "1w", "-c", "a week")
	require.NoError(t, r.Err, r.Stderr)
	assert.NotContains(t, r.Stderr, "Warning")

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "extend", id, "-d", "1w")
	require.NoError(t, r.Err, r.Stderr)
	assert.Contains(t, r.Stderr, "Warning: the silence lasts")
}

// `silence expire $(silence list -q ...)` when nothing matches gets no argument at
// all: nothing to do is no error.
func TestExpireNothing(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "expire")
	require.NoError(t, r.Err, r.Stderr)
	assert.Equal(t, 0, r.Code)
	assert.Empty(t, r.Stdout)
	assert.Equal(t, "nothing to expire: no silence ID given\n", r.Stderr)
}
