package runbook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

func run(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := NewCmdRunbook(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

func TestRunbookCommands(t *testing.T) {
	names := runbook.Names()
	require.Contains(t, names, "restore")
	require.Contains(t, names, "ImmichServerDown")

	tests := map[string]struct {
		args   []string
		code   int
		outHas []string
	}{
		"list":              {args: []string{"list"}, outHas: append([]string{"NAME", "TITLE"}, names...)},
		"show an alert":     {args: []string{"show", "ImmichServerDown"}, outHas: []string{"## Meaning", "## Mitigation"}},
		"show ignores case": {args: []string{"show", "immichserverdown.md"}, outHas: []string{"## Meaning"}},
		"show restore":      {args: []string{"show", "restore"}, outHas: []string{"pg_restore"}},
		"unknown runbook":   {args: []string{"show", "NoSuchAlert"}, code: exitcode.Usage},
		"show needs a name": {args: []string{"show"}, code: exitcode.Usage},
		"bad output format": {args: []string{"list", "-o", "wide"}, code: exitcode.Usage},
		"unknown verb":      {args: []string{"edit"}, code: exitcode.Usage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := run(tc.args...)
			assert.Equal(t, tc.code, exitcode.Code(err), "%v", err)
			for _, s := range tc.outHas {
				assert.Contains(t, out, s)
			}
		})
	}
}

func TestRunbookListJSON(t *testing.T) {
	out, err := run("list", "-o", "json")
	require.NoError(t, err)
	var got []runbook.Runbook
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got, len(runbook.Names()))
	for _, r := range got {
		assert.NotEmpty(t, r.Title, r.Name)
	}
}
