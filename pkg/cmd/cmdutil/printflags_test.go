package cmdutil

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestPrintFlags(t *testing.T) {
	listing := func() *PrintFlags { return NewPrintFlags("table", "json", "yaml") }
	text := func() *PrintFlags { return NewPrintFlags("", "json", "yaml") }
	tests := map[string]struct {
		flags  func() *PrintFlags
		args   []string
		usage  string
		err    string // empty: accepted
		stdout string
	}{
		"listing default is its table": {flags: listing, usage: "Output format: table, json or yaml", stdout: "human\n"},
		"listing table by name":        {flags: listing, args: []string{"-o", "table"}, stdout: "human\n"},
		"listing json":                 {flags: listing, args: []string{"-o", "json"}, stdout: "{\n  \"a\": 1\n}\n"},
		"listing yaml":                 {flags: listing, args: []string{"--output=yaml"}, stdout: "a: 1\n"},
		"listing refuses wide":         {flags: listing, args: []string{"-o", "wide"}, err: `unsupported output format "wide": use one of table, json, yaml`},
		"listing refuses empty":        {flags: listing, args: []string{"-o", ""}, err: `unsupported output format "": use one of table, json, yaml`},
		"unnamed default is text":      {flags: text, usage: "Output format: json or yaml (default: text)", stdout: "human\n"},
		"unnamed default by -o ''":     {flags: text, args: []string{"-o", ""}, stdout: "human\n"},
		"unnamed default refuses text": {flags: text, args: []string{"-o", "text"}, err: `unsupported output format "text": use one of json, yaml`},
		"two formats":                  {flags: func() *PrintFlags { return NewPrintFlags("text", "json") }, usage: "Output format: text or json", stdout: "human\n"},
		"usage can be given": {flags: func() *PrintFlags {
			p := NewPrintFlags("text", "json")
			p.Usage = "Output format: text (the ID) or json"
			return p
		}, usage: "Output format: text (the ID) or json", stdout: "human\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := tc.flags()
			cmd := &cobra.Command{Use: "x"}
			p.AddFlags(cmd)
			if tc.usage != "" {
				assert.Equal(t, tc.usage, cmd.Flags().Lookup("output").Usage)
			}
			require.NoError(t, cmd.Flags().Parse(tc.args))
			err := p.Validate()
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, p.Print(&out, map[string]int{"a": 1}, func() error {
				out.WriteString("human\n")
				return nil
			}))
			assert.Equal(t, tc.stdout, out.String())
		})
	}
}

func TestPrintFlagsCompletesTheFormats(t *testing.T) {
	cmd := &cobra.Command{Use: "x"}
	NewPrintFlags("table", "json", "yaml").AddFlags(cmd)
	complete, ok := cmd.GetFlagCompletionFunc("output")
	require.True(t, ok)
	got, directive := complete(cmd, nil, "")
	assert.Equal(t, []string{"table", "json", "yaml"}, got)
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)
}
