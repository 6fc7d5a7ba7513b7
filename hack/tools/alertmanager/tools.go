//go:build tools

// Package tools pins Alertmanager and amtool at the version kube-prometheus-stack 83.4.0
// deploys (v0.32.0), which hack/build-testbed.sh builds.
package tools

import (
	_ "github.com/prometheus/alertmanager/cmd/alertmanager"
	_ "github.com/prometheus/alertmanager/cmd/amtool"
)
