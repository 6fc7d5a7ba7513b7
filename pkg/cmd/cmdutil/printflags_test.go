package cmdutil

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

func TestPrintFlags(t *testing.T) {
	const formats = "table, wide, json, yaml, jsonpath=TEMPLATE, jsonpath-file=FILE, go-template=TEMPLATE or go-template-file=FILE"
	object := map[string]int{"a": 1}
	list := []map[string]int{{"a": 1}, {"a": 2}}
	tests := map[string]struct {
		def    string
		args   []string
		value  any
		usage  string
		err    string // empty: accepted
		stdout string
	}{
		"listing default is its table":    {def: output.Table, usage: "Output format: " + formats, stdout: "H\nrow\n"},
		"listing table by name":           {def: output.Table, args: []string{"-o", "table"}, stdout: "H\nrow\n"},
		"listing -o '' is the default":    {def: output.Table, args: []string{"-o", ""}, stdout: "H\nrow\n"},
		"listing wide":                    {def: output.Table, args: []string{"-o", "wide"}, stdout: "H\nrow wide\n"},
		"listing --no-headers":            {def: output.Table, args: []string{"--no-headers"}, stdout: "row\n"},
		"listing wide --no-headers":       {def: output.Table, args: []string{"-o", "wide", "--no-headers"}, stdout: "row wide\n"},
		"listing json":                    {def: output.Table, args: []string{"-o", "json"}, stdout: "{\n  \"a\": 1\n}\n"},
		"listing yaml":                    {def: output.Table, args: []string{"--output=yaml"}, stdout: "a: 1\n"},
		"listing jsonpath over items":     {def: output.Table, args: []string{"-o", "jsonpath={.items[*].a}"}, value: list, stdout: "1 2"},
		"listing go-template over items":  {def: output.Table, args: []string{"-o", "go-template={{range .items}}{{.a}};{{end}}"}, value: list, stdout: "1;2;"},
		"object jsonpath":                 {def: output.Text, args: []string{"-o", "jsonpath={.a}"}, stdout: "1"},
		"bad jsonpath is a usage error":   {def: output.Table, args: []string{"-o", "jsonpath={.a"}, err: `output format "jsonpath={.a": error parsing jsonpath {.a, unclosed action`},
		"template without a template":     {def: output.Table, args: []string{"-o", "jsonpath="}, err: `output format "jsonpath=": template format specified but no template given`},
		"unknown format":                  {def: output.Table, args: []string{"-o", "xml"}, err: `unsupported output format "xml": use one of table, wide, json, yaml, jsonpath=TEMPLATE, jsonpath-file=FILE, go-template=TEMPLATE, go-template-file=FILE`},
		"text default":                    {def: output.Text, usage: "Output format: text, json, yaml, jsonpath=TEMPLATE, jsonpath-file=FILE, go-template=TEMPLATE or go-template-file=FILE", stdout: "H\nrow\n"},
		"text by name":                    {def: output.Text, args: []string{"-o", "text"}, stdout: "H\nrow\n"},
		"text has no wide":                {def: output.Text, args: []string{"-o", "wide"}, err: `unsupported output format "wide": use one of text, json, yaml, jsonpath=TEMPLATE, jsonpath-file=FILE, go-template=TEMPLATE, go-template-file=FILE`},
		"yaml default without human form": {def: output.YAML, args: nil, stdout: "a: 1\n"},
		"usage can be given": {def: output.Text, usage: "Output format: text (the ID) or json", stdout: "H\nrow\n",
			args: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := NewPrintFlags(tc.def)
			if name == "usage can be given" {
				p.Usage = tc.usage
			}
			cmd := &cobra.Command{Use: "x"}
			p.AddFlags(cmd)
			if tc.usage != "" {
				assert.Equal(t, tc.usage, cmd.Flags().Lookup("output").Usage)
			}
			assert.Equal(t, tc.def == output.Table, cmd.Flags().Lookup("no-headers") != nil, "--no-headers only for tables")
			require.NoError(t, cmd.Flags().Parse(tc.args))
			require.Same(t, p, PrintFlagsOf(cmd))
			err := p.Validate()
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			v := tc.value
			if v == nil {
				v = object
			}
			var human func(w io.Writer) error
			if tc.def != output.YAML {
				human = func(w io.Writer) error {
					row := "row"
					if output.IsWide(w) {
						row += " wide"
					}
					return output.PrintTable(w, []string{"H"}, [][]string{{row}})
				}
			}
			var out bytes.Buffer
			require.NoError(t, p.Print(&out, v, human))
			assert.Equal(t, tc.stdout, out.String())
			assert.True(t, p.Printed())
		})
	}
}

func TestPrintFlagsCompletesTheFormats(t *testing.T) {
	cmd := &cobra.Command{Use: "x"}
	NewPrintFlags(output.Table).AddFlags(cmd)
	complete, ok := cmd.GetFlagCompletionFunc("output")
	require.True(t, ok)
	got, _ := complete(cmd, nil, "")
	assert.Equal(t, []string{"table", "wide", "json", "yaml", "jsonpath=", "go-template="}, got)
}

func TestPrintError(t *testing.T) {
	failed := exitcode.Failed(errors.New("it broke"))
	tests := map[string]struct {
		format  string
		printed bool
		want    string // empty: nothing printed
	}{
		"json":                     {format: "json", want: "{\n  \"error\": \"it broke\",\n  \"exitCode\": 1\n}\n"},
		"yaml":                     {format: "yaml", want: "error: it broke\nexitCode: 1\n"},
		"table prints nothing":     {format: "table"},
		"jsonpath prints nothing":  {format: "jsonpath={.a}"},
		"after the result nothing": {format: "json", printed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := NewPrintFlags(output.Table)
			cmd := &cobra.Command{Use: "x"}
			p.AddFlags(cmd)
			require.NoError(t, cmd.Flags().Parse([]string{"-o", tc.format}))
			require.NoError(t, p.Validate())
			var out bytes.Buffer
			if tc.printed {
				require.NoError(t, p.Print(&out, map[string]int{"a": 1}, nil))
				out.Reset()
			}
			assert.Equal(t, tc.want != "", p.PrintError(&out, failed))
			assert.Equal(t, tc.want, out.String())
			if tc.want != "" {
				var doc output.ErrorDocument
				require.NoError(t, yaml.Unmarshal(out.Bytes(), &doc))
				assert.Equal(t, output.ErrorDocument{Error: "it broke", ExitCode: 1}, doc)
			}
		})
	}
	t.Run("a yaml default was not asked for", func(t *testing.T) {
		p := NewPrintFlags(output.YAML)
		p.AddFlags(&cobra.Command{Use: "x"})
		require.NoError(t, p.Validate())
		var out bytes.Buffer
		assert.False(t, p.PrintError(&out, failed))
		assert.Empty(t, out.String())
	})
}
