// Package manifests holds what `kubectl picluster install` ships, embedded in the
// binary: one folder per component of Go templates (text/template, rendered with
// the settings as data by pkg/bundle), the partials they include, and the backup
// script. Templates use [[ ]] as delimiters so that the {{ }} of Prometheus,
// Alertmanager and Grafana templates pass through untouched.
package manifests

import "embed"

// FS is the bundle: monitoring/, immich/, backup/, restore-drill/, rbac/ (one object
// template per file, applied in file-name order), partials/ (included by name) and
// scripts/.
//
//go:embed monitoring immich backup restore-drill rbac partials scripts
var FS embed.FS
