package check

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
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
	settings *settings.Settings
	kube     kubernetes.Interface
	dynamic  dynamic.Interface
	bundle   []*unstructured.Unstructured
	prom     *prometheus.Client
	promErr  error
	am       *alertmanager.Client
	amErr    error
	rec      *check.CallRecorder
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
	f.WrapTransport(b.rec.Wrap)
	b.prom, b.promErr = f.Prometheus()
	b.am, b.amErr = f.Alertmanager()
	return b, nil
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
		Alertmanager:    b.am,
		AlertmanagerErr: b.amErr,
		Bundle:          b.bundle,
	}
}

// Calls returns the recorded calls of the last run.
func (b *EnvBuilder) Calls() *check.CallStats { return b.rec.Stats() }
