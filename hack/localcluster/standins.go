package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
	"github.com/picluster/kubectl-picluster/internal/charts"
	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// The bed's subnet hosts the real servers on .2 to .4 (pkg/testbed); the stand-ins put
// the fake pods they serve, and the stand-in for Discord, after them.
const (
	immichHost  = 5 // the immich-server pod: Immich's metrics on 8081 and 8082
	ksmHost     = 6 // the kube-state-metrics pod: 8080
	discordHost = 7 // the stand-in for discord.com: plain HTTP on 80
	ksmPort     = 8080
)

// standIns play, against the bed, the controllers and workloads a real cluster has
// and the bed has not: Flux's source- and helm-controller, External Secrets,
// prometheus-operator, Immich, kube-state-metrics and Discord. Everything they do is
// written to the state of the real objects and the real Prometheus and Alertmanager
// of the bed, so `kubectl picluster check` judges real answers. Passes run one at a
// time.
type standIns struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	settings *settings.Settings
	mon      *testbed.Monitoring
	net      *bedNetwork
	immichIP string
	ksmIP    string
	discord  *discordSink
	vault    *vault
	servers  []*http.Server
	// flux reads the HelmReleases' values sources for Flux's chartutil, as
	// helm-controller's client does; chart is kube-prometheus-stack, rendered for real.
	flux  client.Client
	chart *chartrender.Chart

	mu sync.Mutex // one pass at a time; guards the fields below
	// What the stand-ins last loaded into Prometheus and Alertmanager, so that a pass
	// reloads them only when the cluster's objects changed.
	promLoaded string
	amLoaded   string
	// applied is the JSON each object was last applied with, by Kind/namespace/name.
	applied map[string]string
	// releases is the last render of each HelmRelease; prometheus is the Prometheus
	// object the chart rendered (nil before a release), whose selectors the
	// prometheus-operator stand-in honours.
	releases   map[string]*release
	prometheus *unstructured.Unstructured
}

// passLog writes what one pass did ("playing X: ..."). A quiet pass (the background
// loop) writes only changes; a pass that someone asked for also says what it found
// already in place.
type passLog struct {
	w     io.Writer
	quiet bool
	mu    sync.Mutex
}

// did reports a change the stand-in made.
func (l *passLog) did(role, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "playing %s: %s\n", role, fmt.Sprintf(format, args...))
}

// saw reports something already in place (only when not quiet).
func (l *passLog) saw(role, format string, args ...any) {
	if l.quiet {
		return
	}
	l.did(role, format, args...)
}

// newStandIns adds the stand-ins' addresses to the bed's network namespace and starts
// their listeners there (Immich's metrics, kube-state-metrics, the Discord stand-in).
// Stop closes them; the addresses go with the namespace.
func newStandIns(c *testbed.Cluster, m *testbed.Monitoring, nas *testbed.BedNAS, s *settings.Settings, logw io.Writer) (_ *standIns, err error) {
	bn, err := findBedNetwork(m.NetNS, m.Prometheus.Host)
	if err != nil {
		return nil, err
	}
	chartPath, err := charts.Find(charts.KubePrometheusStack)
	if err != nil {
		return nil, fmt.Errorf("the helm-controller stand-in renders the real chart: %w", err)
	}
	chart, err := chartrender.Load(chartPath)
	if err != nil {
		return nil, err
	}
	flux, err := client.New(c.Config, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("build the client the helm-controller stand-in reads values with: %w", err)
	}
	si := &standIns{
		kube: c.Client, dyn: c.Dynamic, settings: s, mon: m, net: bn, applied: map[string]string{},
		flux: flux, chart: chart, releases: map[string]*release{},
	}
	defer func() {
		if err != nil {
			si.Stop()
		}
	}()
	var discordIP string
	for _, a := range []struct {
		host int
		addr *string
	}{{immichHost, &si.immichIP}, {ksmHost, &si.ksmIP}, {discordHost, &discordIP}} {
		if *a.addr, err = bn.addAddr(a.host); err != nil {
			return nil, err
		}
	}
	si.discord = newDiscordSink("http://"+discordIP, logw)
	si.vault = newVault(s, si.discord)
	if nas != nil && m.Postgres != nil {
		// The backup's credentials are the bed's real ones, so its Job really dumps and
		// uploads (the bed runs its pods: internal/testbed/podrun).
		key, err := os.ReadFile(nas.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read the bed NAS's key: %w", err)
		}
		es := s.ExternalSecrets
		si.vault.preset(es.DBPassword, m.Postgres.Password)
		si.vault.preset(es.SSHKey, string(key))
		si.vault.preset(es.KnownHosts, nas.KnownHosts)
	}
	immich := newImmichMetrics(s)
	serve := []struct {
		addr    string
		handler http.Handler
	}{
		{net.JoinHostPort(si.immichIP, fmt.Sprint(s.Immich.ServerPort)), immich.api},
		{net.JoinHostPort(si.immichIP, fmt.Sprint(s.Immich.WorkerPort)), immich.worker},
		{net.JoinHostPort(si.ksmIP, fmt.Sprint(ksmPort)), newKubeStateMetrics(c.Client)},
		{net.JoinHostPort(discordIP, "80"), si.discord},
	}
	for _, sv := range serve {
		l, err := listenInNetNS(m.NetNS, sv.addr)
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: sv.handler, ReadHeaderTimeout: 5 * time.Second}
		si.servers = append(si.servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	return si, nil
}

// Stop closes the stand-ins' listeners.
func (si *standIns) Stop() {
	for _, srv := range si.servers {
		_ = srv.Close()
	}
}

// reconcile runs one pass of every stand-in, in the order a real cluster settles:
// secrets first (the HelmRelease reads one), then Flux, the workloads, the operator
// that turns them into Prometheus's configuration, and last one backup when none has
// succeeded yet (only when asked: the background loop never starts Jobs).
func (si *standIns) reconcile(ctx context.Context, log *passLog, backup bool) error {
	si.mu.Lock()
	defer si.mu.Unlock()
	steps := []struct {
		name string
		run  func(context.Context, *passLog) error
	}{
		{"External Secrets", si.playExternalSecrets},
		{"source-controller", si.playSourceController},
		{"helm-controller", si.playHelmController},
		{"Immich", si.playImmich},
		{"prometheus-operator", si.playPrometheusOperator},
	}
	if backup {
		steps = append(steps, struct {
			name string
			run  func(context.Context, *passLog) error
		}{"backup", si.playBackup})
	}
	var errs []error
	for _, st := range steps {
		if err := st.run(ctx, log); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.name, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}
