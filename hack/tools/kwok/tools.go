//go:build tools

// Package tools pins kwok, which hack/build-testbed.sh builds.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
