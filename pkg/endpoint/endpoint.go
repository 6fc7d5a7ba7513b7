// Package endpoint says how the plugin reaches an HTTP server (Prometheus,
// Alertmanager): directly at a URL, or through the Kubernetes API server's service
// proxy. Its clients turn failures to connect into a ConnectionError that says
// what was tried and exits 2, or 124 on a timeout. It imports nothing of the
// plugin's but exit codes, so domain packages and the factory can both use it.
package endpoint

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Endpoint is an HTTP connection to one server: a base URL and a client that
// carries the credentials, the timeout, and turns failures into errors that say
// what was tried.
type Endpoint struct {
	// Name is what is reached: "Prometheus" or "Alertmanager".
	Name string
	// BaseURL is the root of the server's HTTP API (it ends without a slash).
	BaseURL *url.URL
	// Client performs requests against BaseURL.
	Client *http.Client
	// Via describes the route for messages, never with credentials.
	Via string
	// ServiceProxy is set when the server is reached through the API server's
	// service proxy (so the caller needs services/proxy permission).
	ServiceProxy bool
}

// URL returns the absolute URL of p (e.g. "/api/v2/status") on the endpoint.
func (e *Endpoint) URL(p string) string {
	u := *e.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(p, "/")
	return u.String()
}

// WithTransport returns a copy of e whose client's transport is wrap's result
// (e.g. a recorder that times every call); e itself is left as it was.
func (e *Endpoint) WithTransport(wrap func(http.RoundTripper) http.RoundTripper) *Endpoint {
	c := *e
	hc := *e.Client
	hc.Transport = wrap(hc.Transport)
	c.Client = &hc
	return &c
}

// Direct returns an endpoint that reaches name at u; timeout bounds each call
// (0: no bound).
func Direct(name string, u *url.URL, timeout time.Duration) *Endpoint {
	via := Redacted(u)
	return &Endpoint{
		Name:         name,
		BaseURL:      u,
		Via:          via,
		Client:       &http.Client{Timeout: timeout, Transport: &classify{next: http.DefaultTransport, name: name, via: via}},
		ServiceProxy: isServiceProxyPath(u.Path),
	}
}

// isServiceProxyPath tells whether a URL given by hand still goes through an API
// server's service proxy (e.g. `kubectl proxy`'s .../services/NAME:PORT/proxy).
func isServiceProxyPath(p string) bool {
	return strings.Contains(p, "/services/") && strings.HasSuffix(strings.TrimSuffix(p, "/"), "/proxy")
}

// ParseURL reads a server's base URL as a user gives it: http or https, with a
// host; a trailing slash is dropped. Errors never show credentials.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", Redacted(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", Redacted(u))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// ServiceProxy returns an endpoint that reaches port of Service namespace/service
// through the API server, the way
// `kubectl get --raw /api/v1/namespaces/NS/services/SVC:PORT/proxy/...` does.
func ServiceProxy(cfg *rest.Config, name, namespace, service, port string, timeout time.Duration) (*Endpoint, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("create HTTP client for the API server: %w", err))
	}
	host, err := url.Parse(cfg.Host)
	if err != nil || host.Host == "" {
		// rest.Config allows a bare host:port.
		host, err = url.Parse("https://" + cfg.Host)
		if err != nil {
			return nil, exitcode.BadUsage(fmt.Errorf("invalid API server address %q: %w", cfg.Host, err))
		}
	}
	u := *host
	u.Path = path.Join("/", host.Path, "api/v1/namespaces", namespace, "services", service+":"+port, "proxy")
	u.User = nil
	via := fmt.Sprintf("service %s/%s:%s through the API server at %s", namespace, service, port, Redacted(host))
	hc.Timeout = timeout
	hc.Transport = &classify{next: hc.Transport, name: name, via: via, proxied: true}
	return &Endpoint{Name: name, BaseURL: &u, Client: hc, Via: via, ServiceProxy: true}, nil
}
