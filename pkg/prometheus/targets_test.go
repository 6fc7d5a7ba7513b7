package prometheus

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordedTargets is an answer of Prometheus 2.42's /api/v1/targets?state=active
// (two targets, trimmed), as recorded from the Debian package.
const recordedTargets = `{"status":"success","data":{"activeTargets":[
{"discoveredLabels":{"__address__":"127.0.0.1:9100","__metrics_path__":"/metrics","__scheme__":"http","__scrape_interval__":"1s","__scrape_timeout__":"1s","job":"node"},
 "labels":{"instance":"127.0.0.1:9100","job":"node"},"scrapePool":"node","scrapeUrl":"http://127.0.0.1:9100/metrics","globalUrl":"http://host:9100/metrics",
 "lastError":"Get \"http://127.0.0.1:9100/metrics\": dial tcp 127.0.0.1:9100: connect: connection refused","lastScrape":"2026-11-25T10:00:01.5Z","lastScrapeDuration":0.000512,"health":"down","scrapeInterval":"1s","scrapeTimeout":"1s"},
{"discoveredLabels":{"__address__":"10.0.0.7:8081","job":"immich-metrics"},
 "labels":{"endpoint":"api-metrics","instance":"10.0.0.7:8081","job":"immich-metrics","namespace":"immich"},"scrapePool":"serviceMonitor/immich/immich-metrics/0","scrapeUrl":"http://10.0.0.7:8081/metrics","globalUrl":"http://10.0.0.7:8081/metrics",
 "lastError":"","lastScrape":"2026-11-25T10:00:02Z","lastScrapeDuration":0.0042,"health":"up","scrapeInterval":"30s","scrapeTimeout":"10s"}
],"droppedTargets":[{"discoveredLabels":{"__address__":"x"}}]}}`

func TestDecodeTargets(t *testing.T) {
	targets, err := DecodeTargets(strings.NewReader(recordedTargets))
	require.NoError(t, err)
	require.Len(t, targets, 2)
	// sorted by job: immich-metrics before node
	assert.Equal(t, Target{
		Job: "immich-metrics", Instance: "10.0.0.7:8081", ScrapePool: "serviceMonitor/immich/immich-metrics/0",
		ScrapeURL: "http://10.0.0.7:8081/metrics",
		Labels:    map[string]string{"endpoint": "api-metrics", "instance": "10.0.0.7:8081", "job": "immich-metrics", "namespace": "immich"},
		Health:    HealthUp, LastScrape: time.Date(2026, 11, 25, 10, 0, 2, 0, time.UTC), LastScrapeDuration: 0.0042,
		ScrapeInterval: 30 * time.Second,
	}, targets[0])
	assert.Equal(t, HealthDown, targets[1].Health)
	assert.Contains(t, targets[1].LastError, "connection refused")
}

func TestDecodeTargetsErrors(t *testing.T) {
	tests := map[string]struct {
		body string
		want string
	}{
		"API error":        {body: `{"status":"error","errorType":"bad_data","error":"invalid state"}`, want: "bad_data: invalid state"},
		"not JSON":         {body: `<html>404</html>`, want: "decode targets"},
		"truncated":        {body: `{"status":"success","data":{"activeTargets":[{"labels":{}`, want: "decode targets"},
		"empty":            {body: ``, want: "decode targets"},
		"targets not list": {body: `{"status":"success","data":{"activeTargets":{}}}`, want: "want an array"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeTargets(strings.NewReader(tc.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDecodeTargetsNullAndEmpty(t *testing.T) {
	for _, body := range []string{
		`{"status":"success","data":{"activeTargets":null,"droppedTargets":null}}`,
		`{"status":"success","data":{"activeTargets":[],"droppedTargets":[]}}`,
	} {
		targets, err := DecodeTargets(strings.NewReader(body))
		require.NoError(t, err)
		assert.Empty(t, targets)
	}
}

func TestFilterTargetsIsAnchored(t *testing.T) {
	targets := []Target{{Job: "immich-metrics"}, {Job: "node"}, {Job: "immich"}}
	re, err := CompileJobPattern("immich")
	require.NoError(t, err)
	assert.Equal(t, []Target{{Job: "immich"}}, FilterTargets(targets, re))
	re, err = CompileJobPattern("immich.*")
	require.NoError(t, err)
	assert.Len(t, FilterTargets(targets, re), 2)
	_, err = CompileJobPattern("(")
	require.Error(t, err)
	assert.Equal(t, targets, FilterTargets(targets, nil))
}
