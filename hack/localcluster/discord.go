package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
)

const roleDiscord = "Discord"

// discordSink stands in for discord.com inside the bed's network namespace: it takes
// webhook posts for the webhooks it issued (the vault's Discord item) and answers
// like Discord (204, or 200 and the message for ?wait=true; 401 for a token it never
// issued). It logs the title of each
// message, never the URL (its token is the secret).
type discordSink struct {
	base string // http://ADDRESS
	logw io.Writer

	mu       sync.Mutex
	tokens   map[string]bool // "id/token"
	received int
}

func newDiscordSink(base string, logw io.Writer) *discordSink {
	return &discordSink{base: base, logw: logw, tokens: map[string]bool{}}
}

// newWebhookURL issues a webhook: http://ADDRESS/api/webhooks/ID/TOKEN.
func (d *discordSink) newWebhookURL() string {
	id := make([]byte, 8)
	token := make([]byte, 32)
	_, _ = rand.Read(id)
	_, _ = rand.Read(token)
	// Discord's webhook IDs are snowflakes (decimal); its tokens are opaque.
	path := fmt.Sprintf("%d/%s", binary.BigEndian.Uint64(id)>>1, hex.EncodeToString(token))
	d.mu.Lock()
	d.tokens[path] = true
	d.mu.Unlock()
	return d.base + "/api/webhooks/" + path
}

// issued tells whether url is a webhook this sink issued (Alertmanager must only
// ever be pointed at those).
func (d *discordSink) issued(url string) bool {
	path, ok := strings.CutPrefix(url, d.base+"/api/webhooks/")
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tokens[path]
}

// Received is how many messages the sink accepted.
func (d *discordSink) Received() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received
}

func (d *discordSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/api/webhooks/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	d.mu.Lock()
	known := d.tokens[path]
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !known {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message": "Invalid Webhook Token", "code": 50027}`)
		return
	}
	var msg alertmanager.DiscordMessage
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &msg); err != nil || (msg.Content == "" && len(msg.Embeds) == 0) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message": "Cannot send an empty message", "code": 50006}`)
		return
	}
	title := msg.Content
	if len(msg.Embeds) > 0 {
		title = msg.Embeds[0].Title
	}
	d.mu.Lock()
	d.received++
	n := d.received
	d.mu.Unlock()
	fmt.Fprintf(d.logw, "playing %s: message received: %s\n", roleDiscord, oneLine(title, 120))
	if r.URL.Query().Get("wait") != "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// With ?wait=true Discord answers with the message it stored.
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprint(1190000000000000000 + n), "type": 0, "content": msg.Content, "embeds": msg.Embeds,
	})
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
