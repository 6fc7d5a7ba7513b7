package bundle

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// PlaceholderWebhookURL stands in for the Discord webhook URL in the Alertmanager
// config that AlertmanagerConfig returns; in the cluster, Flux writes the real one
// from the Secret.
const PlaceholderWebhookURL = "https://discord.com/api/webhooks/0/placeholder"

// AlertmanagerConfig returns the Alertmanager configuration the bundle installs (the
// alertmanager.config values of the HelmRelease), with PlaceholderWebhookURL as the
// Discord webhook, ready for `amtool check-config` or a test Alertmanager.
func AlertmanagerConfig(s *settings.Settings) (string, error) {
	if err := s.Validate(); err != nil {
		return "", fmt.Errorf("render alertmanager config: invalid settings: %w", err)
	}
	r, err := newRenderer(s)
	if err != nil {
		return "", err
	}
	return r.alertmanagerConfig(PlaceholderWebhookURL)
}

func (r *renderer) alertmanagerConfig(webhookURL string) (string, error) {
	data := r.data
	data.WebhookURL = webhookURL
	out, err := r.include("alertmanager-config.yaml", data)
	if err != nil {
		return "", fmt.Errorf("render alertmanager config: %w", err)
	}
	return out, nil
}

// discordTargetPath finds the Discord receiver in the rendered config and returns
// the Helm values path of its webhook_url, for the HelmRelease's valuesFrom.
func (r *renderer) discordTargetPath() (string, error) {
	text, err := r.alertmanagerConfig("")
	if err != nil {
		return "", err
	}
	var cfg struct {
		Receivers []struct {
			Name    string `json:"name"`
			Discord []any  `json:"discord_configs"`
		} `json:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return "", fmt.Errorf("render alertmanager config: invalid YAML: %w", err)
	}
	for i, rc := range cfg.Receivers {
		if rc.Name == r.s.Monitoring.Receiver && len(rc.Discord) > 0 {
			return fmt.Sprintf("alertmanager.config.receivers[%d].discord_configs[0].webhook_url", i), nil
		}
	}
	return "", fmt.Errorf("render alertmanager config: no Discord receiver named %q", r.s.Monitoring.Receiver)
}

// RuleGroups returns the spec of every PrometheusRule in the bundle as a Prometheus
// rule file (what `promtool check rules` and `promtool test rules` read), keyed by
// the PrometheusRule's name.
func RuleGroups(s *settings.Settings) (map[string]string, error) {
	objs, err := Render(s)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		spec, ok := o.Object["spec"]
		if !ok {
			return nil, fmt.Errorf("PrometheusRule %s has no spec", o.GetName())
		}
		b, err := yaml.Marshal(spec)
		if err != nil {
			return nil, fmt.Errorf("PrometheusRule %s: %w", o.GetName(), err)
		}
		out[o.GetName()] = string(b)
	}
	return out, nil
}

// queueAlert is one "queue stuck" alert: the queue's gauge of jobs in progress, the
// counter of its finished jobs, and the threshold.
type queueAlert struct {
	Alert, Queue, Active, Success string
	Threshold                     int
}

func queueAlerts(s *settings.Settings) []queueAlert {
	m, th := s.Immich.Metrics, s.Immich.Thresholds
	return []queueAlert{
		{Alert: "ImmichThumbnailQueueStuck", Queue: "thumbnail generation", Active: m.ThumbnailQueue, Success: m.ThumbnailSuccess, Threshold: th.ThumbnailQueue},
		{Alert: "ImmichVideoQueueStuck", Queue: "video conversion", Active: m.VideoQueue, Success: m.VideoSuccess, Threshold: th.VideoQueue},
		{Alert: "ImmichMetadataQueueStuck", Queue: "metadata extraction", Active: m.MetadataQueue, Success: m.MetadataSuccess, Threshold: th.MetadataQueue},
	}
}
