//go:build tools

// Package tools pins Prometheus and promtool at the versions kube-prometheus-stack 83.4.0
// deploys (Prometheus v3.11.1 is module v0.311.1), which hack/build-testbed.sh builds.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
