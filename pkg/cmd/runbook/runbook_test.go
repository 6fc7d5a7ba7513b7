package runbook_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r := plugintest.Run(t, append([]string{"runbook"}, args...)...)
	return r.Stdout, r.Err
}

func TestRunbookCommands(t *testing.T) {
	names := runbook.Names()
	require.Contains(t, names, "restore")
	require.Contains(t, names, "ImmichServerDown")

	tests := map[string]struct {
		args   []string
		code   int
		outHas []string
		errHas string
	}{
		"list":                 {args: []string{"list"}, outHas: append([]string{"NAME", "TITLE"}, names...)},
		"show an alert":        {args: []string{"show", "ImmichServerDown"}, outHas: []string{"## Meaning", "## Mitigation"}},
		"show ignores case":    {args: []string{"show", "immichserverdown.md"}, outHas: []string{"## Meaning"}},
		"show restore":         {args: []string{"show", "restore"}, outHas: []string{"pg_restore"}},
		"unknown runbook":      {args: []string{"show", "NoSuchAlert"}, code: exitcode.Usage},
		"nearest name":         {args: []string{"show", "BackupStal"}, code: exitcode.Usage, errHas: "did you mean BackupStale?"},
		"runbook_url":          {args: []string{"show", "https://github.com/picluster/kubectl-picluster/blob/main/runbooks/BackupStale.md"}, outHas: []string{"# BackupStale", "kubectl picluster backup status -o wide"}},
		"filled from settings": {args: []string{"show", "ImmichServerDown"}, outHas: []string{"kubectl -n immich get pods -l app.kubernetes.io/instance=immich,app.kubernetes.io/name=server"}},
		"run unknown":          {args: []string{"run", "BackupStal"}, code: exitcode.Usage, errHas: "did you mean BackupStale?"},
		"run both ways":        {args: []string{"run", "BackupStale", "--read-only", "--yes"}, code: exitcode.Usage, errHas: "exclude each other"},
		"show needs a name":    {args: []string{"show"}, code: exitcode.Usage},
		"bad output format":    {args: []string{"list", "-o", "xml"}, code: exitcode.Usage},
		"unknown verb":         {args: []string{"edit"}, code: exitcode.Usage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := plugintest.Run(t, append([]string{"runbook"}, tc.args...)...)
			assert.Equal(t, tc.code, r.Code, "%v", r.Err)
			for _, s := range tc.outHas {
				assert.Contains(t, r.Stdout, s)
			}
			assert.Contains(t, r.Stderr, tc.errHas)
		})
	}
}

func TestRunbookListJSON(t *testing.T) {
	out, err := run(t, "list", "-o", "json")
	require.NoError(t, err)
	var got []runbook.Runbook
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got, len(runbook.Names()))
	for _, r := range got {
		assert.NotEmpty(t, r.Title, r.Name)
	}
}
