package silence_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestMain(m *testing.M) {
	// The bed (an API server) starts only for the in-cluster test.
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}

func byID(t *testing.T, url, id string) *models.GettableSilence {
	t.Helper()
	for _, s := range amtest.Silences(t, url) {
		if am.SilenceID(s) == id {
			return s
		}
	}
	t.Fatalf("silence %s not in Alertmanager", id)
	return nil
}

func TestAdd(t *testing.T) {
	srv, _ := amtest.Start(t)
	amtest.PostAlerts(t, srv.URL,
		map[string]string{"alertname": "ImmichQueueStuck", "namespace": "immich", "queue": "thumbnail"},
		map[string]string{"alertname": "ImmichQueueStuck", "namespace": "immich", "queue": "video"},
		map[string]string{"alertname": "TargetDown", "namespace": "monitoring"},
	)
	tests := map[string]struct {
		args     []string
		matchers string
		covered  []string
		notes    string
		duration time.Duration
	}{
		"bare alertname": {
			args:     []string{"ImmichQueueStuck", "--duration", "2h", "--comment", "re-indexing"},
			matchers: `alertname="ImmichQueueStuck"`, duration: 2 * time.Hour,
			notes: "covers 2 alerts now", covered: []string{`ImmichQueueStuck{namespace="immich",queue="thumbnail"}`, `ImmichQueueStuck{namespace="immich",queue="video"}`},
		},
		"regex and negation": {
			args:     []string{`queue=~"thumb.*"`, "namespace!=monitoring", "-d", "1d", "-c", "thumbnails", "--author", "alice"},
			matchers: `queue=~"thumb.*" namespace!="monitoring"`, duration: 24 * time.Hour,
			notes: "covers 1 alert now", covered: []string{`ImmichQueueStuck{namespace="immich",queue="thumbnail"}`},
		},
		"nothing firing": {
			args:     []string{"alertname=NoSuchAlert", "--duration", "30m", "--comment", "just in case"},
			matchers: `alertname="NoSuchAlert"`, duration: 30 * time.Minute,
			notes: `No alert matches alertname="NoSuchAlert" right now`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := time.Now()
			r := plugintest.Run(t, append([]string{"--alertmanager-url", srv.URL, "silence", "add"}, tc.args...)...)
			require.NoError(t, r.Err, r.Stderr)
			id := strings.TrimSpace(r.Stdout)
			require.NoError(t, am.CheckSilenceID(id), "stdout is the ID alone: %q", r.Stdout)
			assert.Contains(t, r.Stderr, tc.notes)
			for _, c := range tc.covered {
				assert.Contains(t, r.Stderr, c)
			}
			s := byID(t, srv.URL, id)
			assert.Equal(t, tc.matchers, am.FormatAPIMatchers(s.Matchers))
			assert.Equal(t, am.StateActive, am.State(s))
			length := time.Time(*s.EndsAt).Sub(before)
			assert.InDelta(t, tc.duration.Seconds(), length.Seconds(), 5)
			assert.NotEmpty(t, *s.CreatedBy)
		})
	}
}

func TestAmtoolSeesOursAndWeSeeAmtools(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", `severity=~"warn.*"`, "namespace=immich", "-d", "1h", "-c", "ours", "-a", "bob")
	require.NoError(t, r.Err)
	ours := strings.TrimSpace(r.Stdout)

	var queried []models.GettableSilence
	require.NoError(t, json.Unmarshal([]byte(amtest.Amtool(t, srv.URL, "silence", "query", "-o", "json")), &queried))
	require.Len(t, queried, 1)
	assert.Equal(t, ours, *queried[0].ID)
	assert.Equal(t, "bob", *queried[0].CreatedBy)
	assert.Equal(t, `severity=~"warn.*" namespace="immich"`, am.FormatAPIMatchers(queried[0].Matchers))
	assert.Contains(t, amtest.Amtool(t, srv.URL, "silence", "query", "-q", "namespace=immich"), ours)

	theirs := strings.TrimSpace(amtest.Amtool(t, srv.URL, "silence", "add", "TargetDown", "job=node", "-c", "amtool's", "-a", "carol", "-d", "2h"))
	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "-o", "json")
	require.NoError(t, r.Err)
	var listed []models.GettableSilence
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &listed))
	ids := []string{}
	for _, s := range listed {
		ids = append(ids, *s.ID)
	}
	assert.ElementsMatch(t, []string{ours, theirs}, ids)

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list")
	require.NoError(t, r.Err)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^ID\s+MATCHERS\s+STARTS\s+ENDS\s+CREATED BY\s+COMMENT\s+STATE$`, lines[0])
	assert.Regexp(t, ours+`\s+severity=~"warn\.\*" namespace="immich"\s+.*\s+bob\s+ours\s+active$`, lines[1], "soonest end first")
	assert.Regexp(t, theirs+`\s+alertname="TargetDown" job="node"\s+.*\s+carol\s+amtool's\s+active$`, lines[2])

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "-q", "alertname=TargetDown")
	require.NoError(t, r.Err)
	assert.Equal(t, theirs+"\n", r.Stdout)

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "-o", "yaml")
	require.NoError(t, r.Err)
	var fromYAML []models.GettableSilence
	require.NoError(t, yaml.Unmarshal([]byte(r.Stdout), &fromYAML))
	assert.Len(t, fromYAML, 2)

	// Expired by us, amtool sees it expired; expired by amtool, we list it with --expired.
	require.NoError(t, plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "expire", ours).Err)
	assert.NotContains(t, amtest.Amtool(t, srv.URL, "silence", "query", "-q"), ours)
	assert.Contains(t, amtest.Amtool(t, srv.URL, "silence", "query", "-q", "--expired"), ours)
	amtest.Amtool(t, srv.URL, "silence", "expire", theirs)
	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list", "--expired", "-q")
	require.NoError(t, r.Err)
	assert.ElementsMatch(t, []string{ours, theirs}, strings.Fields(r.Stdout))
	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "list")
	require.NoError(t, r.Err)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, "No active or pending silences")
}

func TestExtendAndExpire(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Foo", "-d", "1h", "-c", "c")
	require.NoError(t, r.Err)
	id := strings.TrimSpace(r.Stdout)
	endBefore := time.Time(*byID(t, srv.URL, id).EndsAt)

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "extend", id, "--duration", "90m")
	require.NoError(t, r.Err, r.Stderr)
	assert.Equal(t, id+"\n", r.Stdout, "updated in place: same ID")
	assert.Contains(t, r.Stderr, "now ends at")
	s := byID(t, srv.URL, id)
	assert.WithinDuration(t, endBefore.Add(90*time.Minute), time.Time(*s.EndsAt), time.Second)
	assert.Len(t, amtest.Silences(t, srv.URL), 1, "no second silence")
	var viaAmtool []models.GettableSilence
	require.NoError(t, json.Unmarshal([]byte(amtest.Amtool(t, srv.URL, "silence", "query", "-o", "json")), &viaAmtool))
	require.Len(t, viaAmtool, 1)
	assert.WithinDuration(t, endBefore.Add(90*time.Minute), time.Time(*viaAmtool[0].EndsAt), time.Second)

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "expire", id, id)
	require.NoError(t, r.Err)
	assert.Equal(t, id+"\n", r.Stdout)
	assert.Equal(t, am.StateExpired, am.State(byID(t, srv.URL, id)))

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "expire", id)
	require.NoError(t, r.Err, "expiring again is fine")
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, "had already expired")

	r = plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "extend", id, "--duration", "1h")
	assert.Equal(t, exitcode.Usage, r.Code)
	assert.Contains(t, r.Err.Error(), "has expired")
	assert.Len(t, amtest.Silences(t, srv.URL), 1, "nothing re-created")
}

func TestAddDryRunCreatesNothing(t *testing.T) {
	srv, _ := amtest.Start(t)
	amtest.PostAlerts(t, srv.URL, map[string]string{"alertname": "ImmichQueueStuck", "namespace": "immich"})
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "namespace=immich", "-d", "1h", "-c", "check", "-a", "erin", "--dry-run")
	require.NoError(t, r.Err)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Stderr, "This silence covers 1 alert now:\n  ImmichQueueStuck{namespace=\"immich\"}")
	assert.Contains(t, r.Stderr, `dry run: would silence namespace="immich" from`)
	assert.Contains(t, r.Stderr, `(by erin: "check"); nothing was created`)
	assert.Empty(t, amtest.Silences(t, srv.URL))
}

func TestCompleteSilenceIDs(t *testing.T) {
	srv, _ := amtest.Start(t)
	r := plugintest.Run(t, "--alertmanager-url", srv.URL, "silence", "add", "Foo", "job=node", "-d", "1h", "-c", "c")
	require.NoError(t, r.Err)
	id := strings.TrimSpace(r.Stdout)
	r = plugintest.Run(t, "__complete", "--alertmanager-url", srv.URL, "silence", "expire", "")
	require.NoError(t, r.Err)
	assert.Contains(t, r.Stdout, id+"\t"+`alertname="Foo" job="node"`)
	r = plugintest.Run(t, "__complete", "--alertmanager-url", srv.URL, "silence", "extend", id, "")
	require.NoError(t, r.Err)
	assert.NotContains(t, r.Stdout, id, "extend takes one ID")
}
