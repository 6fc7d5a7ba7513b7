package alertmanager_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

var now = time.Date(2025, 12, 28, 2, 30, 0, 0, time.UTC)

const (
	hookID    = amtest.HookID
	hookToken = amtest.HookToken
	hookPath  = amtest.HookPath
)

var (
	rateLimited = amtest.RateLimited
	status      = amtest.DiscordStatus
)

func TestSendDiscord(t *testing.T) {
	tests := map[string]struct {
		script   []func(w http.ResponseWriter)
		path     string
		maxWait  time.Duration
		code     int
		errHas   string
		requests int
		retries  int
		minGap   time.Duration
	}{
		"delivered": {requests: 1},
		"429 with retry_after in the body": {
			script:   []func(http.ResponseWriter){rateLimited(`{"message": "You are being rate limited.", "retry_after": 0.3, "global": false}`, "1")},
			requests: 2, retries: 1, minGap: 300 * time.Millisecond,
		},
		"429 with only Retry-After": {
			script:   []func(http.ResponseWriter){rateLimited(`not json`, "0.2")},
			requests: 2, retries: 1, minGap: 200 * time.Millisecond,
		},
		"429 twice": {
			script: []func(http.ResponseWriter){
				rateLimited(`{"retry_after": 0.05}`, ""), rateLimited(`{"retry_after": 0.05}`, ""),
			},
			requests: 3, retries: 2,
		},
		"429 too long to wait": {
			script:  []func(http.ResponseWriter){rateLimited(`{"retry_after": 3600}`, "")},
			maxWait: time.Second, code: exitcode.Failure, errHas: "rate limits the webhook for 1h0m0s", requests: 1,
		},
		"429 for ever": {
			script: []func(http.ResponseWriter){
				rateLimited(`{"retry_after": 0.01}`, ""), rateLimited(`{"retry_after": 0.01}`, ""),
				rateLimited(`{"retry_after": 0.01}`, ""), rateLimited(`{"retry_after": 0.01}`, ""),
			},
			code: exitcode.Failure, errHas: "still rate limits the webhook after 3 retries", requests: 4, retries: 3,
		},
		"unknown webhook": {
			path: "/api/webhooks/" + hookID + "/wrong" + hookToken, code: exitcode.Failure,
			errHas: "refused the message: 404 Not Found: Unknown Webhook (code 10015)", requests: 1,
		},
		"server error echoing the URL": {
			script: []func(http.ResponseWriter){status(500, `{"message": "bad path `+hookPath+`"}`)},
			code:   exitcode.Failure, errHas: "500 Internal Server Error: bad path " + endpoint.Mask, requests: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := amtest.NewFakeDiscord(t, tc.script...)
			url := fake.URL
			if tc.path != "" {
				url = strings.TrimSuffix(fake.URL, hookPath) + tc.path
			}
			var progress bytes.Buffer
			res, err := am.SendDiscord(context.Background(), url, am.TestMessage(now), am.WebhookOptions{MaxRetryWait: tc.maxWait, Progress: &progress})
			got := fake.Requests()
			require.Len(t, got, tc.requests)
			for _, r := range got {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, "application/json", r.ContentType)
				assert.Equal(t, "wait=true", r.Query, "asks Discord to confirm the message")
				assert.Equal(t, am.TestMessage(now), r.Body)
			}
			if tc.minGap > 0 {
				assert.GreaterOrEqual(t, got[1].At.Sub(got[0].At), tc.minGap, "honours retry_after")
			}
			all := progress.String()
			if err != nil {
				all += err.Error()
			}
			assert.NotContains(t, all, hookToken)
			assert.NotContains(t, all, hookID)
			if tc.code != 0 {
				require.Error(t, err)
				assert.Equal(t, tc.code, exitcode.Code(err))
				assert.Contains(t, err.Error(), tc.errHas)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "1190000000000000001", res.MessageID)
			assert.Equal(t, tc.retries, res.Retries)
			assert.Equal(t, 200, res.Status)
		})
	}
}

func TestSendDiscordConnectionErrorsAreRedacted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	tests := map[string]struct {
		url  string
		code int
	}{
		"refused":      {url: "http://" + addr + hookPath, code: exitcode.Usage},
		"not a URL":    {url: "discord.com" + hookPath, code: exitcode.Usage},
		"bad escaping": {url: "http://" + addr + hookPath + "%zz", code: exitcode.Usage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := am.SendDiscord(context.Background(), tc.url, am.TestMessage(now), am.WebhookOptions{})
			require.Error(t, err)
			assert.Equal(t, tc.code, exitcode.Code(err))
			assert.NotContains(t, err.Error(), hookToken)
			assert.NotContains(t, err.Error(), hookID)
		})
	}

	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			time.Sleep(500 * time.Millisecond)
		}))
		defer srv.Close()
		_, err := am.SendDiscord(context.Background(), srv.URL+hookPath, am.TestMessage(now), am.WebhookOptions{Client: &http.Client{Timeout: 100 * time.Millisecond}})
		require.Error(t, err)
		assert.Equal(t, exitcode.Timeout, exitcode.Code(err))
		assert.NotContains(t, err.Error(), hookToken)
	})
}

func TestRetryAfter(t *testing.T) {
	tests := map[string]struct {
		header string
		body   string
		want   time.Duration
	}{
		"body wins":        {header: "5", body: `{"retry_after": 1.5}`, want: 1500 * time.Millisecond},
		"header":           {header: "2", body: `{}`, want: 2 * time.Second},
		"nothing":          {want: time.Second},
		"negative ignored": {body: `{"retry_after": -1}`, want: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			assert.Equal(t, tc.want, am.RetryAfter(h, []byte(tc.body)))
		})
	}
}
