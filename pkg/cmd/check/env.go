package check

import (
	"fmt"
	"net/http"
	"strings"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/check"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Client-side rate limits for the check's Kubernetes calls: client-go's default
// (5 per second, bursts of 10) would queue the concurrent checks behind each other.
const (
	kubeQPS   = 100
	kubeBurst = 200
)

// EnvBuilder holds the clients of a `check` run, built once, every call timed by
// one recorder, and hands out a fresh check.Env (no cached answers) per attempt.
type EnvBuilder struct {
	settings     *settings.Settings
	kube         kubernetes.Interface
	dynamic      dynamic.Interface
	bundle       []*unstructured.Unstructured
	prom         *prometheus.Client
	promErr      error
	promVia      string
	am           *amclient.AlertmanagerAPI
	amErr        error
	amVia        string
	serviceProxy bool
	rec          *check.CallRecorder
}

// NewEnvBuilder builds the clients from the factory. Bad settings or kubeconfig
// are errors (exit 2); Prometheus or Alertmanager that cannot be set up are left
// to the checks that need them, so the others still run.
func NewEnvBuilder(f *factory.Factory) (*EnvBuilder, error) {
	b := &EnvBuilder{rec: &check.CallRecorder{}}
	var err error
	if b.settings, err = f.Settings(); err != nil {
		return nil, err
	}
	if b.bundle, err = bundle.Render(b.settings); err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("render the bundle the checks compare against: %w", err))
	}
	base, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(base)
	cfg.QPS, cfg.Burst = kubeQPS, kubeBurst
	cfg.Wrap(b.rec.Wrap)
	if b.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("create Kubernetes client: %w", err))
	}
	if b.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("create Kubernetes client: %w", err))
	}
	if e, err := f.PrometheusEndpoint(); err != nil {
		b.promErr = err
	} else {
		b.promVia, b.serviceProxy = e.Via, b.serviceProxy || viaServiceProxy(e)
		b.prom, b.promErr = prometheus.New(e.BaseURL, b.timed(e.Client))
	}
	if e, err := f.AlertmanagerEndpoint(); err != nil {
		b.amErr = err
	} else {
		b.amVia, b.serviceProxy = e.Via, b.serviceProxy || viaServiceProxy(e)
		path := strings.TrimSuffix(e.BaseURL.Path, "/") + amclient.DefaultBasePath
		rt := httptransport.NewWithClient(e.BaseURL.Host, path, []string{e.BaseURL.Scheme}, b.timed(e.Client))
		b.am = amclient.New(rt, strfmt.Default)
	}
	return b, nil
}

// timed returns a copy of hc whose calls the recorder times.
func (b *EnvBuilder) timed(hc *http.Client) *http.Client {
	c := *hc
	c.Transport = b.rec.Wrap(c.Transport)
	return &c
}

// viaServiceProxy tells whether an endpoint goes through the API server's service proxy.
func viaServiceProxy(e *factory.Endpoint) bool {
	return strings.Contains(e.BaseURL.Path, "/services/") && strings.HasSuffix(strings.TrimSuffix(e.BaseURL.Path, "/"), "/proxy")
}

// Env returns a fresh environment for one run of the checks, and restarts the
// call recorder.
func (b *EnvBuilder) Env() *check.Env {
	b.rec.Reset()
	return &check.Env{
		Settings:        b.settings,
		Kube:            b.kube,
		Dynamic:         b.dynamic,
		Prometheus:      b.prom,
		PrometheusErr:   b.promErr,
		PrometheusVia:   b.promVia,
		Alertmanager:    b.am,
		AlertmanagerErr: b.amErr,
		AlertmanagerVia: b.amVia,
		ServiceProxy:    b.serviceProxy,
		Bundle:          b.bundle,
	}
}

// Calls returns the recorded calls of the last run.
func (b *EnvBuilder) Calls() *check.CallStats { return b.rec.Stats() }
