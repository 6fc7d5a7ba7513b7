// Package runbooks holds the runbooks shipped with the plugin: one Markdown file per
// alert of the bundle (<Alert>.md, the target of the alert's runbook_url), each with
// Meaning, Impact, Diagnosis and Mitigation sections, plus restore.md.
package runbooks

import "embed"

// FS holds the runbooks, *.md at its root.
//
//go:embed *.md
var FS embed.FS
