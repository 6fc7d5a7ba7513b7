//go:build tools

// Package tools pins krew v0.4.3: the release test (test/krew) builds `krew` and
// `validate-krew-manifest` from this module to install plugins.yaml offline and to
// check it with krew's own validation.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
