package cmdutil

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// RenderBundle loads the settings and renders the given components of the bundle
// (all when none), as install and uninstall both need; a settings value the bundle
// cannot render is a usage error (exit 2).
func RenderBundle(loadSettings func() (*settings.Settings, error), components []string) ([]*unstructured.Unstructured, error) {
	s, err := loadSettings()
	if err != nil {
		return nil, err
	}
	objs, err := bundle.Render(s, components...)
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("render the bundle: %w", err))
	}
	return objs, nil
}

// RenderBundleForRemoval is RenderBundle for uninstall: it includes the components the
// settings switch off, so that uninstall also finds one installed before that.
func RenderBundleForRemoval(loadSettings func() (*settings.Settings, error), components []string) ([]*unstructured.Unstructured, error) {
	s, err := loadSettings()
	if err != nil {
		return nil, err
	}
	objs, err := bundle.RenderForRemoval(s, components...)
	if err != nil {
		return nil, exitcode.BadUsage(fmt.Errorf("render the bundle: %w", err))
	}
	return objs, nil
}
