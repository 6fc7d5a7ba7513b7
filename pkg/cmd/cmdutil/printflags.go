package cmdutil

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// PrintFlags are a command's -o/--output flag: the formats it accepts, its
// default, and printing a result in the chosen one. Every command that prints a
// result uses them, so that the formats are checked and printed in one place.
type PrintFlags struct {
	// OutputFormat is the chosen format.
	OutputFormat string
	// Usage overrides the flag's generated help text.
	Usage string

	def    string
	others []string
}

// NewPrintFlags accepts def, the default (the command's own form, such as "table"
// or "text"; "" when it has no name), and the other formats.
func NewPrintFlags(def string, others ...string) *PrintFlags {
	return &PrintFlags{OutputFormat: def, def: def, others: others}
}

// NewChangeSetPrintFlags are -o of install and uninstall: the change set as text
// (the default), JSON or YAML.
func NewChangeSetPrintFlags() *PrintFlags {
	p := NewPrintFlags("", output.JSON, output.YAML)
	p.Usage = "Output format of the change set: json or yaml (default: text)"
	return p
}

// allowed lists the formats that can be named on the command line.
func (p *PrintFlags) allowed() []string {
	if p.def == "" {
		return p.others
	}
	return append([]string{p.def}, p.others...)
}

// AddFlags registers -o/--output on cmd, with completion of the allowed formats.
func (p *PrintFlags) AddFlags(cmd *cobra.Command) {
	usage := p.Usage
	if usage == "" {
		usage = "Output format: " + orList(p.allowed())
		if p.def == "" {
			usage += " (default: text)"
		}
	}
	cmd.Flags().StringVarP(&p.OutputFormat, "output", "o", p.def, usage)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(p.allowed(), cobra.ShellCompDirectiveNoFileComp))
}

// Validate refuses a format the command does not offer (exit 2); it contacts nothing.
func (p *PrintFlags) Validate() error {
	if p.def == "" && p.OutputFormat == "" {
		return nil
	}
	return output.Validate(p.OutputFormat, p.allowed()...)
}

// Structured tells whether the chosen format is JSON or YAML rather than the
// command's own form.
func (p *PrintFlags) Structured() bool {
	return p.OutputFormat == output.JSON || p.OutputFormat == output.YAML
}

// Print writes v to w as JSON or YAML when that was chosen, and otherwise calls
// human, which prints the command's own form (nil for a command that has none).
func (p *PrintFlags) Print(w io.Writer, v any, human func() error) error {
	if p.Structured() || human == nil {
		if err := output.Print(w, p.OutputFormat, v); err != nil {
			return fmt.Errorf("print %s: %w", p.OutputFormat, err)
		}
		return nil
	}
	return human()
}

// orList joins "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
