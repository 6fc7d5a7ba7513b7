package alertmanager

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/api/v2/models"
	"sigs.k8s.io/yaml"
)

// RunningConfig is what the plugin reads of Alertmanager's running config (the
// status API's config.original, secrets masked): the route tree's receivers and
// each receiver's notifiers. It is read loosely, key by key, so that any
// Alertmanager version's config works: every `<name>_configs` list of a receiver
// is an integration called <name>.
type RunningConfig struct {
	// Route is the root of the routing tree.
	Route Route
	// Receivers are the receivers in the config's order.
	Receivers []Receiver
}

// Route is one node of the routing tree.
type Route struct {
	// Receiver is the route's receiver (inherited from the parent when empty).
	Receiver string `json:"receiver"`
	// Routes are the child routes.
	Routes []Route `json:"routes"`
}

// Uses tells whether the route or any route below it sends to receiver.
func (r Route) Uses(receiver string) bool {
	if r.Receiver == receiver {
		return true
	}
	for _, c := range r.Routes {
		if c.Uses(receiver) {
			return true
		}
	}
	return false
}

// Receiver is one receiver and its notifiers.
type Receiver struct {
	// Name is the receiver's name, as routes refer to it.
	Name string
	// Notifiers are the receiver's notifier configs, by integration name, then
	// in the config's order.
	Notifiers []Notifier
}

// Notifier is one notifier config of a receiver (one entry of a `<name>_configs` list).
type Notifier struct {
	// Integration names its kind (discord, webhook, email, ...), as the
	// integration label of Alertmanager's metrics does.
	Integration string
	// SendResolved is its send_resolved, or Alertmanager's default for the kind
	// when the config does not say.
	SendResolved bool
}

// Integration is one kind of notifier of a receiver (discord, webhook, email, ...),
// named as the integration label of Alertmanager's metrics names it.
type Integration struct {
	// Name is the integration's name (the `<name>_configs` key without the suffix).
	Name string `json:"name"`
	// Configs counts the notifiers of this kind in the receiver.
	Configs int `json:"configs"`
	// SendResolved tells whether any of them sends resolved notifications.
	SendResolved bool `json:"sendResolved"`
}

// ConfigOf reads the running config out of Alertmanager's status.
func ConfigOf(st *models.AlertmanagerStatus) (*RunningConfig, error) {
	if st == nil || st.Config == nil || st.Config.Original == nil {
		return nil, errors.New("Alertmanager's status has no config")
	}
	return ParseConfig(*st.Config.Original)
}

// ParseConfig reads Alertmanager's running config from its YAML.
func ParseConfig(configYAML string) (*RunningConfig, error) {
	var raw struct {
		Route     Route            `json:"route"`
		Receivers []map[string]any `json:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(configYAML), &raw); err != nil {
		return nil, fmt.Errorf("read Alertmanager config: %w", err)
	}
	cfg := &RunningConfig{Route: raw.Route, Receivers: make([]Receiver, 0, len(raw.Receivers))}
	for _, r := range raw.Receivers {
		name, _ := r["name"].(string)
		rec := Receiver{Name: name}
		kinds := make([]string, 0, len(r))
		for key := range r {
			if kind, ok := strings.CutSuffix(key, "_configs"); ok {
				kinds = append(kinds, kind)
			}
		}
		slices.Sort(kinds)
		for _, kind := range kinds {
			list, _ := r[kind+"_configs"].([]any)
			for _, c := range list {
				m, _ := c.(map[string]any)
				rec.Notifiers = append(rec.Notifiers, Notifier{Integration: kind, SendResolved: sendsResolved(kind, m)})
			}
		}
		cfg.Receivers = append(cfg.Receivers, rec)
	}
	return cfg, nil
}

// Receiver returns the receiver called name.
func (c *RunningConfig) Receiver(name string) (Receiver, bool) {
	for _, r := range c.Receivers {
		if r.Name == name {
			return r, true
		}
	}
	return Receiver{}, false
}

// ReceiverNames returns the receivers' names in the config's order.
func (c *RunningConfig) ReceiverNames() []string {
	names := make([]string, 0, len(c.Receivers))
	for _, r := range c.Receivers {
		names = append(names, r.Name)
	}
	return names
}

// Integrations returns the receiver's integrations, sorted by name.
func (r Receiver) Integrations() []Integration {
	out := []Integration{}
	for _, n := range r.Notifiers {
		if len(out) == 0 || out[len(out)-1].Name != n.Integration {
			out = append(out, Integration{Name: n.Integration})
		}
		in := &out[len(out)-1]
		in.Configs++
		in.SendResolved = in.SendResolved || n.SendResolved
	}
	return out
}

// ReceiverIntegrations reads Alertmanager's running config and returns each
// receiver's integrations.
func ReceiverIntegrations(configYAML string) (map[string][]Integration, error) {
	cfg, err := ParseConfig(configYAML)
	if err != nil {
		return nil, err
	}
	return cfg.ReceiverIntegrations(), nil
}

// ReceiverIntegrations returns each receiver's integrations.
func (c *RunningConfig) ReceiverIntegrations() map[string][]Integration {
	out := make(map[string][]Integration, len(c.Receivers))
	for _, r := range c.Receivers {
		out[r.Name] = r.Integrations()
	}
	return out
}

// sendsResolved reads a notifier's send_resolved, with Alertmanager's default
// for its kind when it is absent (the running config usually spells it out).
func sendsResolved(kind string, cfg map[string]any) bool {
	if v, ok := cfg["send_resolved"].(bool); ok {
		return v
	}
	return SendResolvedDefault(kind)
}

// SendResolvedDefault is Alertmanager's send_resolved for a notifier of the kind
// that does not set it: false for email, rocketchat, slack and wechat, true for
// every other kind (the Default<Kind>Config values of Alertmanager's
// notify/<kind>/config.go; a test reads them from the module's source).
func SendResolvedDefault(kind string) bool {
	switch kind {
	case "email", "rocketchat", "slack", "wechat":
		return false
	}
	return true
}
