// Package prometheus holds what the plugin asks Prometheus: scrape targets, rule
// groups, and whether the series an alert expression selects exist at all. It sits
// on the official client (promv1.API); only the targets listing is read from the
// HTTP API directly, to ask for active targets alone and decode them as a stream.
package prometheus

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/endpoint"
)

// Client asks one Prometheus server.
type Client struct {
	// API is the official client.
	API promv1.API
	// Endpoint is how the server is reached; it also serves the HTTP API
	// directly (for /api/v1/targets).
	Endpoint *endpoint.Endpoint
}

// New returns a client for the Prometheus at e.
func New(e *endpoint.Endpoint) (*Client, error) {
	c, err := promapi.NewClient(promapi.Config{Address: e.BaseURL.String(), Client: e.Client})
	if err != nil {
		return nil, fmt.Errorf("create Prometheus client for %s: %w", e.Via, err)
	}
	return &Client{API: promv1.NewAPI(c), Endpoint: e}, nil
}

// url returns the absolute URL of an API path with a query.
func (c *Client) url(p string, q url.Values) string {
	u := *c.Endpoint.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawQuery = q.Encode()
	return u.String()
}

// Version returns the server's version (it answers /api/v1/status/buildinfo).
func (c *Client) Version(ctx context.Context) (string, error) {
	info, err := c.API.Buildinfo(ctx)
	if err != nil {
		return "", fmt.Errorf("ask Prometheus for its build info: %w", err)
	}
	return info.Version, nil
}

// Vector runs an instant query at now and returns its samples; a query that
// yields a scalar or string is an error.
func (c *Client) Vector(ctx context.Context, query string, now time.Time) (model.Vector, error) {
	v, _, _, err := c.API.Query(ctx, query, now)
	if err != nil {
		return nil, fmt.Errorf("query Prometheus for %s: %w", query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query Prometheus for %s: got a %s, want a vector", query, v.Type())
	}
	return vec, nil
}
