package factory

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// WrapTransport has every call to Prometheus and Alertmanager pass through wrap
// (check's call recorder times them this way). Call it before asking for either
// client: clients are built once, with the wrappers known at that time.
func (f *Factory) WrapTransport(wrap func(http.RoundTripper) http.RoundTripper) {
	f.wrappers = append(f.wrappers, wrap)
}

// Prometheus returns the client for Prometheus: --prometheus-url when given, else
// the API server's proxy to the Service named in settings. It is built once.
func (f *Factory) Prometheus() (*prometheus.Client, error) {
	f.promOnce.Do(func() {
		e, err := f.endpoint("Prometheus", f.opts.PrometheusURL, func(s *settings.Settings) settings.ServiceRef { return s.Prometheus })
		if err != nil {
			f.promErr = err
			return
		}
		f.prom, f.promErr = prometheus.New(e)
		f.promErr = exitcode.BadUsage(f.promErr)
	})
	return f.prom, f.promErr
}

// Alertmanager returns the client for Alertmanager: --alertmanager-url when given,
// else the API server's proxy to the Service named in settings. It is built once.
func (f *Factory) Alertmanager() (*alertmanager.Client, error) {
	f.amOnce.Do(func() {
		e, err := f.endpoint("Alertmanager", f.opts.AlertmanagerURL, func(s *settings.Settings) settings.ServiceRef { return s.Alertmanager })
		if err != nil {
			f.amErr = err
			return
		}
		f.am = alertmanager.New(e)
	})
	return f.am, f.amErr
}

// endpoint builds the connection to name (the flag's URL, or the service proxy)
// with the transport wrappers applied.
func (f *Factory) endpoint(name, override string, ref func(*settings.Settings) settings.ServiceRef) (*endpoint.Endpoint, error) {
	e, err := f.bareEndpoint(name, override, ref)
	if err != nil {
		return nil, err
	}
	for _, wrap := range f.wrappers {
		e = e.WithTransport(wrap)
	}
	return e, nil
}

func (f *Factory) bareEndpoint(name, override string, ref func(*settings.Settings) settings.ServiceRef) (*endpoint.Endpoint, error) {
	timeout, err := f.requestTimeout()
	if err != nil {
		return nil, err
	}
	if override != "" {
		u, err := endpoint.ParseURL(override)
		if err != nil {
			return nil, exitcode.BadUsage(fmt.Errorf("invalid --%s-url: %w", strings.ToLower(name), err))
		}
		return endpoint.Direct(name, u, timeout), nil
	}
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	svc := ref(s)
	return endpoint.ServiceProxy(cfg, name, s.Namespaces.Monitoring, svc.Service, svc.Port, timeout)
}
