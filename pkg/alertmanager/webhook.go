package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// DiscordMessage is the body of a Discord webhook execution.
type DiscordMessage struct {
	Username string         `json:"username,omitempty"`
	Content  string         `json:"content,omitempty"`
	Embeds   []DiscordEmbed `json:"embeds,omitempty"`
}

// DiscordEmbed is one rich embed of a message.
type DiscordEmbed struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Color       int    `json:"color,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
}

// TestMessage is the message `webhook test` sends.
func TestMessage(now time.Time) DiscordMessage {
	return DiscordMessage{
		Username: "kubectl picluster",
		Embeds: []DiscordEmbed{{
			Title: "Test message from kubectl picluster",
			Description: "If you can read this, Alertmanager's Discord webhook works. " +
				"Nothing is wrong; no alert is firing because of this message.",
			Color:     0x2ECC71,
			Timestamp: now.UTC().Format(time.RFC3339),
		}},
	}
}

// DiscordWebhookURL reads the webhook URL from its Secret. A missing Secret, key
// or value exits 2 and names the settings key; the value never appears in errors.
func DiscordWebhookURL(ctx context.Context, kube kubernetes.Interface, namespace string, ref settings.SecretKeyRef) (string, error) {
	const key = "monitoring.discordWebhookSecret"
	// At -v=8 and above client-go logs response bodies through the context's
	// logger, and this body holds the URL: this one request logs nothing.
	ctx = klog.NewContext(ctx, logr.Discard())
	sec, err := kube.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", exitcode.BadUsage(fmt.Errorf("secret %s/%s not found (settings key %s): is its ExternalSecret synced?", namespace, ref.Name, key))
	}
	if err != nil {
		return "", fmt.Errorf("read secret %s/%s: %w", namespace, ref.Name, err)
	}
	v, ok := sec.Data[ref.Key]
	if !ok {
		return "", exitcode.BadUsage(fmt.Errorf("secret %s/%s has no key %q (settings key %s; it has: %s)",
			namespace, ref.Name, ref.Key, key, strings.Join(slices.Sorted(maps.Keys(sec.Data)), ", ")))
	}
	u := strings.TrimSpace(string(v))
	if u == "" {
		return "", exitcode.BadUsage(fmt.Errorf("secret %s/%s key %q is empty (settings key %s)", namespace, ref.Name, ref.Key, key))
	}
	return u, nil
}

// WebhookOptions tune SendDiscord.
type WebhookOptions struct {
	// Client sends the requests (default: a client with a 30s timeout).
	Client *http.Client
	// MaxRetries bounds the retries after a 429 (default 3).
	MaxRetries int
	// MaxRetryWait is the longest retry_after honoured (default 60s); longer fails.
	MaxRetryWait time.Duration
	// Progress receives a line per retry; nil discards.
	Progress io.Writer
}

// WebhookResult is Discord's answer to a delivered message.
type WebhookResult struct {
	Status    int    `json:"status"`
	MessageID string `json:"messageID,omitempty"`
	Retries   int    `json:"retries"`
	Host      string `json:"host"`
	// Error says why the message did not get through, when it did not.
	Error string `json:"error,omitempty"`
}

// SendDiscord posts msg to a Discord webhook, waiting for Discord to confirm it
// (?wait=true) and honouring 429 answers' retry_after. The URL carries the
// webhook's token, so it never appears in errors or progress: only its host does.
// Discord refusing the message exits 1; not reaching it exits 2.
func SendDiscord(ctx context.Context, rawURL string, msg DiscordMessage, o WebhookOptions) (*WebhookResult, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.MaxRetryWait == 0 {
		o.MaxRetryWait = time.Minute
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exitcode.BadUsage(errors.New("the webhook URL is not an http(s) URL"))
	}
	r := newRedactor(rawURL, u)
	q := u.Query()
	q.Set("wait", "true")
	u.RawQuery = q.Encode()
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode Discord message: %w", err)
	}
	res := &WebhookResult{Host: u.Host}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, r.error(fmt.Errorf("build request: %w", err))
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "kubectl-picluster")
		resp, err := o.Client.Do(req)
		if err != nil {
			return nil, r.connectionError(err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		res.Status = resp.StatusCode
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			var m struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(answer, &m)
			res.MessageID = m.ID
			return res, nil
		case resp.StatusCode == http.StatusTooManyRequests:
			wait := RetryAfter(resp.Header, answer)
			if res.Retries >= o.MaxRetries {
				return res, exitcode.Failed(fmt.Errorf("Discord (%s) still rate limits the webhook after %s", u.Host, output.Count(res.Retries, "retry")))
			}
			if wait > o.MaxRetryWait {
				return res, exitcode.Failed(fmt.Errorf("Discord (%s) rate limits the webhook for %s, longer than %s", u.Host, wait, o.MaxRetryWait))
			}
			res.Retries++
			fmt.Fprintf(progress, "Discord rate limits the webhook: retrying in %s\n", wait)
			if err := sleep(ctx, wait, "Discord's rate limit"); err != nil {
				return res, err
			}
		default:
			return res, exitcode.Failed(r.error(fmt.Errorf("Discord (%s) refused the message: %s%s", u.Host, resp.Status, discordReason(answer))))
		}
	}
}

// RetryAfter reads how long Discord asks to wait after a 429: retry_after (seconds,
// fractional) from the JSON body, else the Retry-After header, else one second.
func RetryAfter(h http.Header, body []byte) time.Duration {
	var m struct {
		RetryAfter *float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &m) == nil && m.RetryAfter != nil && *m.RetryAfter >= 0 {
		return time.Duration(*m.RetryAfter * float64(time.Second))
	}
	if s, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	return time.Second
}

// discordReason formats Discord's JSON error ({"message": ..., "code": ...}).
func discordReason(body []byte) string {
	var m struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	if json.Unmarshal(body, &m) != nil || m.Message == "" {
		return ""
	}
	if m.Code != 0 {
		return fmt.Sprintf(": %s (code %d)", m.Message, m.Code)
	}
	return ": " + m.Message
}

// redactor removes the webhook URL and its secret parts from messages.
type redactor struct{ secrets []string }

func newRedactor(raw string, u *url.URL) redactor {
	r := redactor{secrets: []string{raw, u.String(), u.Path, u.EscapedPath(), u.RawQuery}}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 { // webhook ID and token; short segments like "api" give nothing away
			r.secrets = append(r.secrets, seg, url.PathEscape(seg))
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) }) // longest first
	return r
}

// String redacts s.
func (r redactor) String(s string) string {
	for _, sec := range r.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, endpoint.Mask)
		}
	}
	return s
}

// error returns err with its text redacted, keeping its exit code.
func (r redactor) error(err error) error {
	return exitcode.WithCode(exitcode.Code(err), errors.New(r.String(err.Error())))
}

// connectionError is a transport failure, redacted: exit 2, or 124 on a timeout.
func (r redactor) connectionError(err error) error {
	code := exitcode.Usage
	if exitcode.IsTimeout(err) {
		code = exitcode.Timeout
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message holds the whole URL
	}
	return exitcode.WithCode(code, fmt.Errorf("cannot reach the Discord webhook: %s", r.String(err.Error())))
}
