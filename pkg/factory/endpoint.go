package factory

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Endpoint is an HTTP connection to Prometheus or Alertmanager: a base URL and a
// client that carries the credentials, the timeout, and turns failures into errors
// that say what was tried.
type Endpoint struct {
	// Name is what is reached: "Prometheus" or "Alertmanager".
	Name string
	// BaseURL is the root of the server's HTTP API (it ends without a slash).
	BaseURL *url.URL
	// Client performs requests against BaseURL.
	Client *http.Client
	// Via describes the route for messages, never with credentials.
	Via string
}

// URL returns the absolute URL of p (e.g. "/api/v2/status") on the endpoint.
func (e *Endpoint) URL(p string) string {
	u := *e.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(p, "/")
	return u.String()
}

// PrometheusEndpoint returns the connection to Prometheus: --prometheus-url when
// given, else the API server's proxy to the Service named in settings.
func (f *Factory) PrometheusEndpoint() (*Endpoint, error) {
	return f.endpoint("Prometheus", f.opts.PrometheusURL, func(s *settings.Settings) settings.ServiceRef { return s.Prometheus })
}

// AlertmanagerEndpoint returns the connection to Alertmanager: --alertmanager-url
// when given, else the API server's proxy to the Service named in settings.
func (f *Factory) AlertmanagerEndpoint() (*Endpoint, error) {
	return f.endpoint("Alertmanager", f.opts.AlertmanagerURL, func(s *settings.Settings) settings.ServiceRef { return s.Alertmanager })
}

// Prometheus returns the official Prometheus API client over PrometheusEndpoint.
func (f *Factory) Prometheus() (promv1.API, error) {
	e, err := f.PrometheusEndpoint()
	if err != nil {
		return nil, err
	}
	c, err := promapi.NewClient(promapi.Config{Address: e.BaseURL.String(), Client: e.Client})
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("create Prometheus client for %s: %w", e.Via, err))
	}
	return promv1.NewAPI(c), nil
}

// Alertmanager returns the official Alertmanager API v2 client over AlertmanagerEndpoint.
func (f *Factory) Alertmanager() (*amclient.AlertmanagerAPI, error) {
	e, err := f.AlertmanagerEndpoint()
	if err != nil {
		return nil, err
	}
	return AlertmanagerAPI(e), nil
}

// AlertmanagerAPI returns the official Alertmanager API v2 client over e, for
// callers that also use the endpoint directly (e.g. for /metrics).
func AlertmanagerAPI(e *Endpoint) *amclient.AlertmanagerAPI {
	base := strings.TrimSuffix(e.BaseURL.Path, "/") + amclient.DefaultBasePath
	rt := httptransport.NewWithClient(e.BaseURL.Host, base, []string{e.BaseURL.Scheme}, e.Client)
	return amclient.New(rt, strfmt.Default)
}

func (f *Factory) endpoint(name, override string, ref func(*settings.Settings) settings.ServiceRef) (*Endpoint, error) {
	timeout, err := f.requestTimeout()
	if err != nil {
		return nil, err
	}
	if override != "" {
		u, err := parseOverride(override)
		if err != nil {
			return nil, exitcode.BadUsage(fmt.Errorf("invalid --%s-url: %w", strings.ToLower(name), err))
		}
		via := u.Redacted()
		return &Endpoint{
			Name:    name,
			BaseURL: u,
			Via:     via,
			Client:  &http.Client{Timeout: timeout, Transport: &classify{next: http.DefaultTransport, name: name, via: via}},
		}, nil
	}
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return serviceProxyEndpoint(cfg, name, s.Namespaces.Monitoring, ref(s), timeout)
}

// serviceProxyEndpoint reaches a Service through the API server, the way
// `kubectl get --raw /api/v1/namespaces/NS/services/SVC:PORT/proxy/...` does.
func serviceProxyEndpoint(cfg *rest.Config, name, namespace string, svc settings.ServiceRef, timeout time.Duration) (*Endpoint, error) {
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
	u.Path = path.Join("/", host.Path, "api/v1/namespaces", namespace, "services", svc.Service+":"+svc.Port, "proxy")
	u.User = nil
	via := fmt.Sprintf("service %s/%s:%s through the API server at %s", namespace, svc.Service, svc.Port, host.Redacted())
	hc.Timeout = timeout
	hc.Transport = &classify{next: hc.Transport, name: name, via: via, proxied: true}
	return &Endpoint{Name: name, BaseURL: &u, Client: hc, Via: via}, nil
}

func parseOverride(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}
