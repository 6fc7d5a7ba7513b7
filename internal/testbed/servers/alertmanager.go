package servers

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// DefaultAlertmanagerConfig is used when StartAlertmanager gets an empty config: every
// alert goes to a receiver that sends nothing.
const DefaultAlertmanagerConfig = "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"

// Alertmanager is a running Alertmanager (Debian's 0.25), not clustered.
type Alertmanager struct {
	// URL is the base URL, e.g. http://127.0.0.1:40123 (API v2 under /api/v2).
	URL string
	// Host and Port are where it listens.
	Host string
	Port int
	// ConfigFile is the alertmanager.yml it runs with; Reload rewrites it.
	ConfigFile string
	// Dir is the server's own folder (config, silences and notification log, log).
	Dir string
	// Process is the server process.
	Process *proc.Process

	owned bool
}

// StartAlertmanager starts Alertmanager with configYAML (DefaultAlertmanagerConfig when
// empty) and waits until /-/ready answers. Clustering is off (--cluster.listen-address=):
// a clustered Alertmanager holds every notification until gossip settles.
func StartAlertmanager(ctx context.Context, o Options, configYAML string) (*Alertmanager, error) {
	o = o.withDefaults()
	bin, err := proc.LookBinary("alertmanager")
	if err != nil {
		return nil, fmt.Errorf("start alertmanager: %w", err)
	}
	dir, owned, err := workDir(o, "alertmanager")
	if err != nil {
		return nil, err
	}
	a := &Alertmanager{Host: o.Host, Dir: dir, owned: owned, ConfigFile: filepath.Join(dir, "alertmanager.yml")}
	if err := a.writeConfig(configYAML); err != nil {
		_ = a.Stop()
		return nil, fmt.Errorf("start alertmanager: %w", err)
	}
	start := func(port int) (*proc.Process, error) {
		return proc.Start(proc.Spec{
			Name: "alertmanager", Path: bin, Dir: dir, NetNS: o.NetNS,
			Args: []string{
				"--config.file=" + a.ConfigFile,
				"--storage.path=" + filepath.Join(dir, "data"),
				"--web.listen-address=" + hostPort(o.Host, port),
				"--web.external-url=http://" + hostPort(o.Host, port) + "/",
				"--cluster.listen-address=",
			},
		})
	}
	ready := func(ctx context.Context, port int) error {
		return waitHTTPReady(ctx, "http://"+hostPort(o.Host, port)+"/-/ready")
	}
	pr, port, err := startOnPort(ctx, o, "alertmanager", start, ready)
	if err != nil {
		_ = a.Stop()
		return nil, err
	}
	a.Process, a.Port, a.URL = pr, port, "http://"+hostPort(o.Host, port)
	return a, nil
}

// Reload replaces the config and asks Alertmanager to reload it; it returns
// Alertmanager's own error when it refuses the new config.
func (a *Alertmanager) Reload(ctx context.Context, configYAML string) error {
	if err := a.writeConfig(configYAML); err != nil {
		return fmt.Errorf("reload alertmanager: %w", err)
	}
	if err := httpPost(ctx, a.URL+"/-/reload"); err != nil {
		return fmt.Errorf("reload alertmanager: %w", err)
	}
	return nil
}

// Stop stops Alertmanager; idempotent. A temporary Dir is removed.
func (a *Alertmanager) Stop() error {
	if a.owned {
		return stopAndClean(a.Process, a.Dir)
	}
	return stopAndClean(a.Process)
}

func (a *Alertmanager) writeConfig(configYAML string) error {
	if strings.TrimSpace(configYAML) == "" {
		configYAML = DefaultAlertmanagerConfig
	}
	return writeFile(a.ConfigFile, []byte(configYAML), 0o600)
}
