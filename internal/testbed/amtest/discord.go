package amtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
)

// A webhook's ID and token, as in https://discord.com/api/webhooks/ID/TOKEN: tests
// check that neither ever shows in output or errors.
const (
	HookID    = "1187654321987654321"
	HookToken = "Zx9-secretTOKENvalue_abcdefghijklmnopqrstuvwxyz0123456789"
	HookPath  = "/api/webhooks/" + HookID + "/" + HookToken
)

// DiscordRequest is one request the fake Discord got.
type DiscordRequest struct {
	Method, Path, Query, ContentType string
	Body                             alertmanager.DiscordMessage
	At                               time.Time
}

// FakeDiscord stands in for Discord's webhook endpoint (Discord itself is out of
// reach of tests): it records every request, answers from Script in order, and
// then with 200 and a message, as Discord does for ?wait=true. Any path but
// HookPath is an unknown webhook (404, code 10015).
type FakeDiscord struct {
	// URL is the webhook URL, token included.
	URL string
	// Script answers the first requests, one function each.
	Script []func(w http.ResponseWriter)

	mu       sync.Mutex
	requests []DiscordRequest
}

// NewFakeDiscord starts a fake Discord on 127.0.0.1 for the test.
func NewFakeDiscord(t testing.TB, script ...func(w http.ResponseWriter)) *FakeDiscord {
	f := &FakeDiscord{Script: script}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL + HookPath
	return f
}

// ServeHTTP records the request and answers it.
func (f *FakeDiscord) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg alertmanager.DiscordMessage
	_ = json.NewDecoder(r.Body).Decode(&msg)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, DiscordRequest{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Body: msg, At: time.Now(),
	})
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != HookPath {
		DiscordStatus(http.StatusNotFound, `{"message": "Unknown Webhook", "code": 10015}`)(w)
		return
	}
	if n < len(f.Script) {
		f.Script[n](w)
		return
	}
	DiscordStatus(http.StatusOK, `{"id": "1190000000000000001", "type": 0, "content": ""}`)(w)
}

// Requests returns the requests so far.
func (f *FakeDiscord) Requests() []DiscordRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DiscordRequest(nil), f.requests...)
}

// RateLimited answers 429 with body and, when set, a Retry-After header.
func RateLimited(body, retryAfterHeader string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfterHeader != "" {
			w.Header().Set("Retry-After", retryAfterHeader)
		}
		DiscordStatus(http.StatusTooManyRequests, body)(w)
	}
}

// DiscordStatus answers code with a JSON body.
func DiscordStatus(code int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}
