package servers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// DefaultPrometheusConfig is used when StartPrometheus gets an empty config: rules are
// evaluated every second so alert tests are quick.
const DefaultPrometheusConfig = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"

// Prometheus is a running Prometheus server (Debian's 2.42).
type Prometheus struct {
	// URL is the base URL, e.g. http://127.0.0.1:40123.
	URL string
	// Host and Port are where it listens.
	Host string
	Port int
	// ConfigFile is the prometheus.yml it runs with; Reload rewrites it.
	ConfigFile string
	// RulesDir holds the rule files (one per key of ruleFiles).
	RulesDir string
	// Dir is the server's own folder (config, rules, TSDB, log).
	Dir string
	// Process is the server process.
	Process *proc.Process

	owned bool
}

// StartPrometheus starts Prometheus with configYAML (DefaultPrometheusConfig when empty)
// and the given rule files (file name -> content), and waits until /-/ready answers.
// Rule files are written to RulesDir; when the config has no rule_files key, one that
// lists them is added. The lifecycle API is on, for Reload.
func StartPrometheus(ctx context.Context, o Options, configYAML string, ruleFiles map[string]string) (*Prometheus, error) {
	o = o.withDefaults()
	bin, err := proc.LookBinary("prometheus")
	if err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	dir, owned, err := workDir(o, "prometheus")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{
		Host: o.Host, Dir: dir, owned: owned,
		ConfigFile: filepath.Join(dir, "prometheus.yml"),
		RulesDir:   filepath.Join(dir, "rules"),
	}
	if err := p.writeFiles(configYAML, ruleFiles); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	start := func(port int) (*proc.Process, error) {
		url := "http://" + hostPort(o.Host, port)
		return proc.Start(proc.Spec{
			Name: "prometheus", Path: bin, Dir: dir, NetNS: o.NetNS,
			Args: []string{
				"--config.file=" + p.ConfigFile,
				"--web.listen-address=" + hostPort(o.Host, port),
				"--web.external-url=" + url + "/",
				"--web.enable-lifecycle",
				"--storage.tsdb.path=" + filepath.Join(dir, "data"),
				"--storage.tsdb.retention.time=2h",
			},
		})
	}
	ready := func(ctx context.Context, port int) error {
		return waitHTTPReady(ctx, "http://"+hostPort(o.Host, port)+"/-/ready")
	}
	pr, port, err := startOnPort(ctx, o, "prometheus", start, ready)
	if err != nil {
		_ = p.Stop()
		return nil, err
	}
	p.Process, p.Port, p.URL = pr, port, "http://"+hostPort(o.Host, port)
	return p, nil
}

// Reload replaces the config and the rule files and asks Prometheus to reload them; it
// returns Prometheus's own error when it refuses the new config.
func (p *Prometheus) Reload(ctx context.Context, configYAML string, ruleFiles map[string]string) error {
	if err := p.writeFiles(configYAML, ruleFiles); err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	if err := httpPost(ctx, p.URL+"/-/reload"); err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	return nil
}

// Stop stops Prometheus; idempotent. A temporary Dir is removed.
func (p *Prometheus) Stop() error {
	if p.owned {
		return stopAndClean(p.Process, p.Dir)
	}
	return stopAndClean(p.Process)
}

// writeFiles replaces the rule files and writes the config.
func (p *Prometheus) writeFiles(configYAML string, ruleFiles map[string]string) error {
	if strings.TrimSpace(configYAML) == "" {
		configYAML = DefaultPrometheusConfig
	}
	if err := os.RemoveAll(p.RulesDir); err != nil {
		return fmt.Errorf("clear rules dir: %w", err)
	}
	if err := os.MkdirAll(p.RulesDir, 0o755); err != nil {
		return fmt.Errorf("create rules dir: %w", err)
	}
	var paths []string
	for name, content := range ruleFiles {
		if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return fmt.Errorf("rule file name %q: want a plain file name", name)
		}
		path := filepath.Join(p.RulesDir, name)
		if err := writeFile(path, []byte(content), 0o644); err != nil {
			return err
		}
		paths = append(paths, path)
	}
	sort.Strings(paths)
	cfg, err := withRuleFiles(configYAML, paths)
	if err != nil {
		return err
	}
	return writeFile(p.ConfigFile, cfg, 0o644)
}

// withRuleFiles adds a rule_files list to a Prometheus config that has none. It edits the
// YAML node tree, so everything else stays exactly as written.
func withRuleFiles(configYAML string, paths []string) ([]byte, error) {
	if len(paths) == 0 {
		return []byte(configYAML), nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		return nil, fmt.Errorf("parse prometheus config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse prometheus config: want a mapping at the top")
	}
	top := doc.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		if top.Content[i].Value == "rule_files" {
			return []byte(configYAML), nil // the caller lists them itself
		}
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, path := range paths {
		list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: path})
	}
	top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "rule_files"}, list)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}
	return out.Bytes(), nil
}

// UpAndDownConfig is a Prometheus config with two scrape jobs at 1 s: "self" (p
// itself, so up) and "nothing" (closedPort, where nothing listens, so down) — the
// smallest setup with one healthy and one failing target.
func UpAndDownConfig(p *Prometheus, closedPort int) string {
	return fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: self
  static_configs: [{targets: ["%s"]}]
- job_name: nothing
  static_configs: [{targets: ["127.0.0.1:%d"]}]
`, hostPort(p.Host, p.Port), closedPort)
}
