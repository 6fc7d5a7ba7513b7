// Package bundle renders the manifests that `kubectl picluster install` ships (the
// embedded templates of package manifests) from the typed settings, into objects
// ready for server-side apply or for `--export`.
package bundle

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// The components of the bundle; each can be installed on its own with --component.
const (
	// Monitoring is kube-prometheus-stack through Flux with Alertmanager → Discord.
	Monitoring = "monitoring"
	// Immich is Immich's metrics Service, ServiceMonitor, alerts and dashboard.
	Immich = "immich"
	// Backup is the Postgres backup CronJob, its script, secrets and alerts.
	Backup = "backup"
	// RestoreDrill is the optional drill CronJob (restore the newest backup into a
	// scratch database and compare) and its alerts; off unless restoreDrill.enabled.
	RestoreDrill = "restore-drill"
	// RBAC is the picluster-operator role for the day-to-day commands and its bindings.
	RBAC = "rbac"
)

// Labels every rendered object carries, so that install, uninstall and check can
// tell the bundle's objects from everybody else's.
const (
	// ManagedByLabel marks objects installed by the plugin.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is ManagedByLabel's value.
	ManagedByValue = "kubectl-picluster"
	// ComponentLabel names the component an object belongs to.
	ComponentLabel = "picluster.io/component"
)

// Components returns the components in install order: the monitoring stack first
// (it brings the prometheus-operator CRDs the others use), RBAC last.
func Components() []string {
	return []string{Monitoring, Immich, Backup, RestoreDrill, RBAC}
}

// Enabled reports whether the settings switch a component on: every component is on
// except the optional ones (restore-drill) their settings leave off.
func Enabled(s *settings.Settings, component string) bool {
	if component == RestoreDrill {
		return s.RestoreDrill.Enabled
	}
	return true
}

// Render renders the named components (none: every enabled one) from the settings, in
// a deterministic order: components in install order, then each component's files by
// name, then the documents of a file. Settings are validated first; a bad value is
// an error naming its key and nothing is rendered. An unknown component is an error,
// and so is one named that the settings switch off (install would do nothing).
func Render(s *settings.Settings, components ...string) ([]*unstructured.Unstructured, error) {
	return render(s, false, components)
}

// RenderForRemoval renders like Render, but includes the components the settings
// switch off: what uninstall looks through, so that it finds a component installed
// before it was switched off.
func RenderForRemoval(s *settings.Settings, components ...string) ([]*unstructured.Unstructured, error) {
	return render(s, true, components)
}

func render(s *settings.Settings, disabledToo bool, components []string) ([]*unstructured.Unstructured, error) {
	selected, err := selectComponents(components)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("render bundle: no settings")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("render bundle: invalid settings: %w", err)
	}
	if !disabledToo {
		var on []string
		for _, c := range selected {
			switch {
			case Enabled(s, c):
				on = append(on, c)
			case len(components) > 0:
				return nil, fmt.Errorf("component %s is switched off in the settings: set restoreDrill.enabled: true to install it", c)
			}
		}
		selected = on
	}
	r, err := newRenderer(s)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	seen := map[string]string{}
	for _, c := range selected {
		objs, err := r.component(c)
		if err != nil {
			return nil, fmt.Errorf("render component %s: %w", c, err)
		}
		for _, o := range objs {
			key := objectKey(o)
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("render component %s: %s is also rendered by component %s (do two namespaces in the settings have the same name?)", c, key, prev)
			}
			seen[key] = c
			setLabels(o, c)
			out = append(out, o)
		}
	}
	return out, nil
}

// selectComponents checks the requested components and returns them in install order.
func selectComponents(requested []string) ([]string, error) {
	all := Components()
	if len(requested) == 0 {
		return all, nil
	}
	if err := ValidateComponents(requested); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range all {
		if slices.Contains(requested, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func setLabels(o *unstructured.Unstructured, component string) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedByValue
	labels[ComponentLabel] = component
	o.SetLabels(labels)
}

func objectKey(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s %s", gvk.GroupKind().String(), name)
}

// YAML writes objects as one multi-document YAML stream, each document starting
// with "---", in the order given: what `install --export` prints.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b strings.Builder
	for _, o := range objs {
		doc, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("write %s as YAML: %w", objectKey(o), err)
		}
		b.WriteString("---\n")
		b.Write(doc)
	}
	return []byte(b.String()), nil
}
