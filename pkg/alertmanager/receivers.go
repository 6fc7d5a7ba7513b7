package alertmanager

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Integration is one kind of notifier of a receiver (discord, webhook, email, ...),
// named as the integration label of Alertmanager's metrics names it.
type Integration struct {
	Name string `json:"name"`
	// Configs counts the notifiers of this kind in the receiver.
	Configs int `json:"configs"`
	// SendResolved tells whether any of them sends resolved notifications.
	SendResolved bool `json:"sendResolved"`
}

// ReceiverIntegrations reads Alertmanager's running config (the status API's
// config.original, secrets masked) and returns each receiver's integrations. The
// config is read loosely, key by key, so that any Alertmanager version's config works:
// every `<name>_configs` list is an integration called <name>.
func ReceiverIntegrations(configYAML string) (map[string][]Integration, error) {
	var cfg struct {
		Receivers []map[string]any `json:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(configYAML), &cfg); err != nil {
		return nil, fmt.Errorf("read Alertmanager config: %w", err)
	}
	out := make(map[string][]Integration, len(cfg.Receivers))
	for _, r := range cfg.Receivers {
		name, _ := r["name"].(string)
		ints := []Integration{}
		for key, v := range r {
			kind, ok := strings.CutSuffix(key, "_configs")
			if !ok {
				continue
			}
			list, _ := v.([]any)
			if len(list) == 0 {
				continue
			}
			in := Integration{Name: kind, Configs: len(list)}
			for _, c := range list {
				if m, ok := c.(map[string]any); ok && sendsResolved(kind, m) {
					in.SendResolved = true
				}
			}
			ints = append(ints, in)
		}
		slices.SortFunc(ints, func(a, b Integration) int { return strings.Compare(a.Name, b.Name) })
		out[name] = ints
	}
	return out, nil
}

// sendsResolved reads send_resolved, with Alertmanager's default when it is absent
// (the running config usually spells it out): false for email, pushover and wechat,
// true for the others.
func sendsResolved(kind string, cfg map[string]any) bool {
	if v, ok := cfg["send_resolved"].(bool); ok {
		return v
	}
	switch kind {
	case "email", "pushover", "wechat":
		return false
	}
	return true
}
