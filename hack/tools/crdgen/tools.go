//go:build tools

// Package tools pins controller-gen and the API packages it reads.
package tools

import (
	_ "github.com/external-secrets/external-secrets/apis/externalsecrets/v1"
	_ "github.com/fluxcd/helm-controller/api/v2"
	_ "github.com/fluxcd/source-controller/api/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
