package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/endpoint"
)

// Health values of a scrape target, as Prometheus reports them.
const (
	HealthUp      = "up"
	HealthDown    = "down"
	HealthUnknown = "unknown"
)

// Target is one active scrape target, with what the plugin shows of it.
type Target struct {
	Job                string            `json:"job"`
	Instance           string            `json:"instance"`
	ScrapePool         string            `json:"scrapePool"`
	ScrapeURL          string            `json:"scrapeUrl"`
	Labels             map[string]string `json:"labels"`
	Health             string            `json:"health"`
	LastError          string            `json:"lastError,omitempty"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDurationSeconds"`
	// ScrapeInterval is zero when the server does not report it (before 2.x releases
	// that added scrapeInterval to the API).
	ScrapeInterval time.Duration `json:"scrapeIntervalSeconds,omitempty"`
}

// MarshalJSON writes ScrapeInterval in seconds, as the field name says.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	return json.Marshal(struct {
		plain
		ScrapeInterval float64 `json:"scrapeIntervalSeconds,omitempty"`
	}{plain: plain(t), ScrapeInterval: t.ScrapeInterval.Seconds()})
}

// apiTarget is one element of activeTargets. Fields the plugin does not use (the
// discovered labels, often the biggest part of the answer) are skipped while decoding.
type apiTarget struct {
	Labels             map[string]string `json:"labels"`
	ScrapePool         string            `json:"scrapePool"`
	ScrapeURL          string            `json:"scrapeUrl"`
	LastError          string            `json:"lastError"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
	Health             string            `json:"health"`
	ScrapeInterval     string            `json:"scrapeInterval"`
}

// ActiveTargets lists the active scrape targets (GET /api/v1/targets?state=active),
// sorted by job and instance. Dropped targets are not asked for: on a cluster with
// Kubernetes service discovery they outnumber the active ones many times over.
func (c *Client) ActiveTargets(ctx context.Context) ([]Target, error) {
	u := c.url("/api/v1/targets", url.Values{"state": {"active"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("list Prometheus targets: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Endpoint.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list Prometheus targets: %w", err)
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("list Prometheus targets: %s answered %s with %q, not the Prometheus API", endpoint.Redacted(c.Endpoint.BaseURL), resp.Status, head)
	}
	targets, err := DecodeTargets(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("list Prometheus targets (HTTP %s): %w", resp.Status, err)
	}
	return targets, nil
}

// DecodeTargets reads a /api/v1/targets answer as a stream: one target at a time,
// keeping only what Target holds, so memory grows with the targets kept and not with
// the size of the answer.
func DecodeTargets(r io.Reader) ([]Target, error) {
	dec := json.NewDecoder(r)
	var targets []Target
	var status, errType, errMsg string
	err := walkObject(dec, func(key string) error {
		switch key {
		case "status":
			return dec.Decode(&status)
		case "errorType":
			return dec.Decode(&errType)
		case "error":
			return dec.Decode(&errMsg)
		case "data":
			return walkObject(dec, func(key string) error {
				if key != "activeTargets" {
					return skipValue(dec)
				}
				return walkArray(dec, func() error {
					var t apiTarget
					if err := dec.Decode(&t); err != nil {
						return err
					}
					targets = append(targets, t.target())
					return nil
				})
			})
		}
		return skipValue(dec)
	})
	if err != nil {
		return nil, fmt.Errorf("decode targets: %w", err)
	}
	if status != "success" {
		if errMsg == "" {
			errMsg = "no error message"
		}
		return nil, fmt.Errorf("Prometheus answered status %q: %s: %s", status, errType, errMsg)
	}
	SortTargets(targets)
	return targets, nil
}

func (t apiTarget) target() Target {
	interval, _ := time.ParseDuration(t.ScrapeInterval)
	return Target{
		Job:                t.Labels["job"],
		Instance:           t.Labels["instance"],
		ScrapePool:         t.ScrapePool,
		ScrapeURL:          t.ScrapeURL,
		Labels:             t.Labels,
		Health:             t.Health,
		LastError:          t.LastError,
		LastScrape:         t.LastScrape,
		LastScrapeDuration: t.LastScrapeDuration,
		ScrapeInterval:     interval,
	}
}

// SortTargets orders targets by job, then instance, then scrape URL.
func SortTargets(targets []Target) {
	sort.SliceStable(targets, func(i, j int) bool {
		a, b := targets[i], targets[j]
		if a.Job != b.Job {
			return a.Job < b.Job
		}
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		return a.ScrapeURL < b.ScrapeURL
	})
}

// FilterTargets keeps the targets whose job matches re (all of them when re is nil).
// The pattern is anchored, as label matchers are in PromQL.
func FilterTargets(targets []Target, re *regexp.Regexp) []Target {
	if re == nil {
		return targets
	}
	var out []Target
	for _, t := range targets {
		if re.MatchString(t.Job) {
			out = append(out, t)
		}
	}
	return out
}

// CompileJobPattern compiles a --job pattern anchored at both ends, like =~ in PromQL.
func CompileJobPattern(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid job pattern %q: %w", pattern, err)
	}
	return re, nil
}

// walkObject reads a JSON object, calling field for each key with the decoder
// positioned at its value; field must consume the value.
func walkObject(dec *json.Decoder, field func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", tok)
		}
		if err := field(key); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// walkArray reads a JSON array, calling elem with the decoder at each element; a
// null counts as an empty array.
func walkArray(dec *json.Decoder, elem func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, got %v", tok)
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.Token() // ']'
	return err
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// skipValue consumes one JSON value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
