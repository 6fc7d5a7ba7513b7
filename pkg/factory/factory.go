// Package factory builds what commands need from the global flags: the settings,
// Kubernetes clients, and the Prometheus and Alertmanager clients (over
// pkg/endpoint). Everything is built lazily and once, so a command pays only for
// the clients it uses. Only command packages import it; domain packages are
// handed their clients.
package factory

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// DefaultTimeout bounds every call to Prometheus and Alertmanager when kubectl's
// --request-timeout is not set.
const DefaultTimeout = 30 * time.Second

// Options are the plugin's own global flags.
type Options struct {
	// ConfigPath is --config; empty means settings.DefaultPath().
	ConfigPath string
	// PrometheusURL is --prometheus-url; empty means the API server's service proxy.
	PrometheusURL string
	// AlertmanagerURL is --alertmanager-url; empty means the API server's service proxy.
	AlertmanagerURL string
}

// Factory hands commands their settings and clients, built once on first use.
type Factory struct {
	flags *genericclioptions.ConfigFlags
	opts  *Options

	settingsOnce sync.Once
	settings     *settings.Settings
	settingsErr  error

	restOnce sync.Once
	rest     *rest.Config
	restErr  error

	wrappers []func(http.RoundTripper) http.RoundTripper

	promOnce sync.Once
	prom     *prometheus.Client
	promErr  error

	amOnce sync.Once
	am     *alertmanager.Client
	amErr  error
}

// New returns a factory over kubectl's flags and the plugin's own. Both are read
// when a client is first asked for, so flags parsed after New still count.
func New(flags *genericclioptions.ConfigFlags, opts *Options) *Factory {
	return &Factory{flags: flags, opts: opts}
}

// Flags returns kubectl's flags, for commands that need e.g. the namespace.
func (f *Factory) Flags() *genericclioptions.ConfigFlags { return f.flags }

// Settings returns the effective settings: defaults merged with the settings file.
// A bad file is a usage error (exit 2) naming the file and the key.
func (f *Factory) Settings() (*settings.Settings, error) {
	f.settingsOnce.Do(func() {
		path, required := f.opts.ConfigPath, true
		if path == "" {
			path, required = settings.DefaultPath(), false
		}
		f.settings, f.settingsErr = settings.Load(path, required)
		f.settingsErr = exitcode.BadUsage(f.settingsErr)
	})
	return f.settings, f.settingsErr
}

// SettingsPath returns the settings file in use and whether it was given explicitly.
func (f *Factory) SettingsPath() (string, bool) {
	if f.opts.ConfigPath != "" {
		return f.opts.ConfigPath, true
	}
	return settings.DefaultPath(), false
}

// RESTConfig returns the client configuration from the kubeconfig and kubectl flags.
func (f *Factory) RESTConfig() (*rest.Config, error) {
	f.restOnce.Do(func() {
		f.rest, f.restErr = f.flags.ToRESTConfig()
		if f.restErr != nil {
			f.restErr = exitcode.BadUsage(fmt.Errorf("load kubeconfig: %w", f.restErr))
		}
	})
	return f.rest, f.restErr
}

// KubeClient returns a typed Kubernetes client.
func (f *Factory) KubeClient() (kubernetes.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("create Kubernetes client: %w", err))
	}
	return cs, nil
}

// Namespace returns the namespace from -n or the kubeconfig context, and whether
// it was set explicitly.
func (f *Factory) Namespace() (string, bool, error) {
	ns, explicit, err := f.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, exitcode.BadUsage(fmt.Errorf("load kubeconfig: %w", err))
	}
	return ns, explicit, nil
}

// requestTimeout is kubectl's --request-timeout when set, else DefaultTimeout.
func (f *Factory) requestTimeout() (time.Duration, error) {
	if f.flags.Timeout == nil || *f.flags.Timeout == "" || *f.flags.Timeout == "0" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(*f.flags.Timeout)
	if err != nil {
		// kubectl also accepts a bare number of seconds.
		var secs int
		if _, scanErr := fmt.Sscanf(*f.flags.Timeout, "%d", &secs); scanErr != nil || secs < 0 {
			return 0, exitcode.BadUsage(fmt.Errorf("invalid --request-timeout %q: use a duration such as 10s", *f.flags.Timeout))
		}
		d = time.Duration(secs) * time.Second
	}
	if d <= 0 {
		return DefaultTimeout, nil
	}
	return d, nil
}
