package testbed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// MonitoringOptions tune StartMonitoring. The zero value gives a kube-prometheus-stack-like
// setup: Prometheus scrapes itself and Alertmanager and sends alerts to the in-cluster
// Alertmanager, an always-firing Watchdog rule, Alertmanager routing to a "null" receiver,
// and Postgres with an "immich" database.
type MonitoringOptions struct {
	// PrometheusConfig replaces the default prometheus.yml; use PrometheusAddr and
	// AlertmanagerAddr of the Cluster for targets. rule_files is added when missing.
	PrometheusConfig string
	// RuleFiles (file name -> content) replace the default Watchdog rule.
	RuleFiles map[string]string
	// AlertmanagerConfig replaces the default alertmanager.yml.
	AlertmanagerConfig string
	// NoPostgres leaves Postgres out.
	NoPostgres bool
}

// Monitoring holds the real servers running behind the cluster's fake pods. Their URL/Host
// fields are addresses inside the bed's network namespace, reachable from the host too.
type Monitoring struct {
	// NetNS is the network namespace the servers run in.
	NetNS string
	// Prometheus is behind Service monitoring/prometheus-operated (port web).
	Prometheus *servers.Prometheus
	// Alertmanager is behind Service monitoring/alertmanager-operated (port web).
	Alertmanager *servers.Alertmanager
	// Postgres is behind Service immich/immich-postgresql (nil with NoPostgres).
	Postgres *servers.Postgres
}

// DefaultWatchdogRule is the always-firing heartbeat rule kube-prometheus-stack ships.
const DefaultWatchdogRule = `groups:
- name: general.rules
  rules:
  - alert: Watchdog
    expr: vector(1)
    labels:
      severity: none
    annotations:
      summary: An alert that should always be firing to certify that Alertmanager is working properly.
`

// DefaultAlertmanagerConfig routes everything (Watchdog included) to a "null" receiver.
const DefaultAlertmanagerConfig = `route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  routes:
  - receiver: "null"
    matchers: ['alertname = "Watchdog"']
receivers:
- name: "null"
`

// PrometheusAddr is host:port of the in-cluster Prometheus (inside the network namespace).
func (c *Cluster) PrometheusAddr() string {
	s := c.monitoringLayout()[componentPrometheus]
	return fmt.Sprintf("%s:%d", s.IP, s.Port)
}

// AlertmanagerAddr is host:port of the in-cluster Alertmanager.
func (c *Cluster) AlertmanagerAddr() string {
	s := c.monitoringLayout()[componentAlertmanager]
	return fmt.Sprintf("%s:%d", s.IP, s.Port)
}

// defaultPrometheusConfig scrapes Prometheus and Alertmanager and alerts to Alertmanager.
func (c *Cluster) defaultPrometheusConfig() string {
	return fmt.Sprintf(`global:
  scrape_interval: 2s
  evaluation_interval: 2s
alerting:
  alertmanagers:
  - static_configs:
    - targets: [%[2]q]
scrape_configs:
- job_name: prometheus
  static_configs:
  - targets: [%[1]q]
- job_name: alertmanager
  static_configs:
  - targets: [%[2]q]
`, c.PrometheusAddr(), c.AlertmanagerAddr())
}

// StartMonitoring creates the bed's network namespace and veth, starts real Prometheus,
// Alertmanager and Postgres inside it on the pinned addresses, and fronts them with
// StatefulSets, pods and Services named as on the real cluster. It returns when the API
// server's service proxy reaches Prometheus and Alertmanager. Needs root (ErrNeedRoot).
// Cluster.Stop stops the servers and removes the namespace.
func (c *Cluster) StartMonitoring(ctx context.Context, o MonitoringOptions) (m *Monitoring, err error) {
	began := time.Now()
	if c.monitoring != nil {
		return nil, errors.New("start monitoring: already started")
	}
	layout := c.monitoringLayout()
	if !c.netUp {
		if err := c.slot.setupNetwork(serverAddrs); err != nil {
			return nil, fmt.Errorf("start monitoring: %w", err)
		}
		c.netUp = true
	}
	m = &Monitoring{NetNS: c.slot.NetNS()}
	c.mu.Lock()
	c.monitoring = m
	c.mu.Unlock()
	defer func() {
		if err != nil {
			err = fmt.Errorf("start monitoring: %w", err)
		}
	}()
	dir := filepath.Join(c.Dir, "monitoring")
	opts := func(name string) servers.Options {
		s := layout[name]
		return servers.Options{Dir: dir, NetNS: m.NetNS, Host: s.IP, Port: s.Port}
	}
	promCfg, rules, amCfg := o.PrometheusConfig, o.RuleFiles, o.AlertmanagerConfig
	if promCfg == "" {
		promCfg = c.defaultPrometheusConfig()
	}
	if rules == nil {
		rules = map[string]string{"watchdog.yaml": DefaultWatchdogRule}
	}
	if amCfg == "" {
		amCfg = DefaultAlertmanagerConfig
	}
	if m.Alertmanager, err = servers.StartAlertmanager(ctx, opts(componentAlertmanager), amCfg); err != nil {
		return m, err
	}
	if m.Prometheus, err = servers.StartPrometheus(ctx, opts(componentPrometheus), promCfg, rules); err != nil {
		return m, err
	}
	names := []string{componentPrometheus, componentAlertmanager}
	if !o.NoPostgres {
		if m.Postgres, err = servers.StartPostgres(ctx, opts(componentPostgres), postgresDatabase, c.pgPassword); err != nil {
			return m, err
		}
		names = append(names, componentPostgres)
	}
	for _, name := range names {
		if err := c.createInCluster(ctx, layout[name]); err != nil {
			return m, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for _, name := range names {
		s := layout[name]
		if err := proc.WaitFor(wctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) { return c.podReadyAt(ctx, s) }); err != nil {
			return m, fmt.Errorf("wait for pod %s/%s: %w", s.Namespace, s.Pod, err)
		}
	}
	for _, svc := range []string{PrometheusService, AlertmanagerService} {
		if err := c.waitServiceProxy(wctx, MonitoringNamespace, svc+":web", "-/ready"); err != nil {
			return m, err
		}
	}
	if o.PrometheusConfig == "" && o.RuleFiles == nil {
		// Like a cluster that runs for a while: targets scraped, Watchdog firing.
		if err := waitSettled(wctx, m.Prometheus.URL); err != nil {
			return m, err
		}
	}
	c.opts.Logf("testbed: monitoring up in netns %s after %s", m.NetNS, time.Since(began).Round(time.Millisecond))
	return m, nil
}

// waitSettled waits until every target of Prometheus was scraped and is up, and the
// Watchdog alert fires.
func waitSettled(ctx context.Context, url string) error {
	client, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return fmt.Errorf("make Prometheus client: %w", err)
	}
	api := promv1.NewAPI(client)
	var last string
	err = proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		targets, err := api.Targets(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, tg := range targets.Active {
			if tg.Health != promv1.HealthGood {
				last = fmt.Sprintf("target %s is %s", tg.ScrapeURL, tg.Health)
				return false, nil
			}
		}
		res, _, _, err := api.Query(ctx, `ALERTS{alertname="Watchdog",alertstate="firing"}`, time.Now())
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if v, ok := res.(model.Vector); !ok || len(v) == 0 || len(targets.Active) == 0 {
			last = "Watchdog not firing yet"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for Prometheus to scrape its targets and fire Watchdog (last: %s): %w", last, err)
	}
	return nil
}

// waitServiceProxy waits until GET /api/v1/namespaces/NS/services/SVC/proxy/PATH answers
// 200: the EndpointSlice is built and the API server reaches the server.
func (c *Cluster) waitServiceProxy(ctx context.Context, ns, svc, path string) error {
	var last error
	err := proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, last = c.Client.CoreV1().RESTClient().Get().
			AbsPath("/api/v1/namespaces", ns, "services", svc, "proxy", path).DoRaw(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("reach %s/%s through the API server's service proxy (last: %v): %w", ns, svc, last, err)
	}
	return nil
}

// stop stops the servers; the network goes with the cluster's slot.
func (m *Monitoring) stop() error {
	var errs []error
	if m.Prometheus != nil {
		errs = append(errs, m.Prometheus.Stop())
	}
	if m.Alertmanager != nil {
		errs = append(errs, m.Alertmanager.Stop())
	}
	if m.Postgres != nil {
		errs = append(errs, m.Postgres.Stop())
	}
	return errors.Join(errs...)
}

// processes lists the servers' processes.
func (m *Monitoring) processes() []*proc.Process {
	var procs []*proc.Process
	if m.Prometheus != nil && m.Prometheus.Process != nil {
		procs = append(procs, m.Prometheus.Process)
	}
	if m.Alertmanager != nil && m.Alertmanager.Process != nil {
		procs = append(procs, m.Alertmanager.Process)
	}
	if m.Postgres != nil && m.Postgres.Process != nil {
		procs = append(procs, m.Postgres.Process)
	}
	return procs
}

// pids lists the servers' process IDs (with their children).
func (m *Monitoring) pids() []int {
	var pids []int
	for _, p := range m.processes() {
		pids = append(pids, p.Tree()...)
	}
	return pids
}

// Monitoring returns the running monitoring servers, or nil before StartMonitoring.
func (c *Cluster) Monitoring() *Monitoring {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.monitoring
}
