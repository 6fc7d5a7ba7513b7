package cmdutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// PrintFlags are a command's -o/--output flag (and --no-headers for a table),
// with kubectl's names everywhere: the command's own form (table or text, the
// default), wide for a table, json, yaml, and the templates of cli-runtime's
// printers (jsonpath=, jsonpath-file=, go-template=, go-template-file=, ...).
// Every command that prints a result uses them, so that the formats are
// checked and printed in one place.
type PrintFlags struct {
	// OutputFormat is the chosen format; empty is the default.
	OutputFormat string
	// NoHeaders leaves out a table's header line (--no-headers).
	NoHeaders bool
	// Usage overrides the flag's generated help text.
	Usage string

	def      string
	template *genericclioptions.KubeTemplatePrintFlags
	printer  printers.ResourcePrinter
	printed  bool
	asked    bool // -o was given
}

// NewPrintFlags returns the flags of a command whose own form is def: a
// listing's output.Table (which also offers wide and --no-headers), the
// output.Text of a command that reports one thing, or output.YAML for one
// whose result is a document.
func NewPrintFlags(def string) *PrintFlags {
	return &PrintFlags{OutputFormat: def, def: def, template: genericclioptions.NewKubeTemplatePrintFlags()}
}

// NewChangeSetPrintFlags are -o of install and uninstall: the change set as text
// (the default), or in any machine format.
func NewChangeSetPrintFlags() *PrintFlags { return NewPrintFlags(output.Text) }

// isTable tells whether the command's own form is a table.
func (p *PrintFlags) isTable() bool { return p.def == output.Table }

// named lists the formats without an argument that can be named on the command line.
func (p *PrintFlags) named() []string {
	out := []string{p.def}
	if p.isTable() {
		out = append(out, output.Wide)
	}
	for _, f := range []string{output.JSON, output.YAML} {
		if f != p.def {
			out = append(out, f)
		}
	}
	return out
}

// allowed lists every format as the help and errors show it.
func (p *PrintFlags) allowed() []string {
	return append(p.named(), "jsonpath=TEMPLATE", "jsonpath-file=FILE", "go-template=TEMPLATE", "go-template-file=FILE")
}

// AddFlags registers -o/--output (and --no-headers for a table) on cmd, with
// completion of the formats. The -o flag's value is the PrintFlags itself, so
// that the root command can find them again (PrintFlagsOf).
func (p *PrintFlags) AddFlags(cmd *cobra.Command) {
	usage := p.Usage
	if usage == "" {
		usage = "Output format: " + orList(p.allowed())
	}
	cmd.Flags().VarP(outputValue{p}, "output", "o", usage)
	cmd.Flags().Lookup("output").DefValue = p.def
	completions := append(p.named(), "jsonpath=", "go-template=")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(completions, cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace))
	if p.isTable() {
		cmd.Flags().BoolVar(&p.NoHeaders, "no-headers", false, "Leave out the table's header line (table and wide output)")
	}
}

// PrintFlagsOf returns the PrintFlags a command registered with AddFlags, or nil.
func PrintFlagsOf(cmd *cobra.Command) *PrintFlags {
	f := cmd.Flags().Lookup("output")
	if f == nil {
		return nil
	}
	if v, ok := f.Value.(outputValue); ok {
		return v.p
	}
	return nil
}

// outputValue binds -o to PrintFlags.OutputFormat.
type outputValue struct{ p *PrintFlags }

func (v outputValue) String() string     { return v.p.OutputFormat }
func (v outputValue) Set(s string) error { v.p.OutputFormat, v.p.asked = s, true; return nil }
func (v outputValue) Type() string       { return "string" }

// Validate refuses a format the command does not offer, or a template that does
// not parse (exit 2); it contacts nothing.
func (p *PrintFlags) Validate() error {
	p.printer = nil
	switch f := p.OutputFormat; {
	case f == "":
		p.OutputFormat = p.def
		return nil
	case f == p.def, f == output.JSON, f == output.YAML, f == output.Wide && p.isTable():
		return nil
	}
	printer, err := p.template.ToPrinter(p.OutputFormat)
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return exitcode.BadUsage(fmt.Errorf("unsupported output format %q: use one of %s", p.OutputFormat, strings.Join(p.allowed(), ", ")))
	}
	if err != nil {
		return exitcode.BadUsage(fmt.Errorf("output format %q: %w", p.OutputFormat, err))
	}
	p.printer = printer
	return nil
}

// Structured tells whether the chosen format is for machines (JSON, YAML or a
// template) rather than the command's own form.
func (p *PrintFlags) Structured() bool {
	return p.OutputFormat != "" && p.OutputFormat != p.def && p.OutputFormat != output.Wide
}

// Machine tells whether JSON or YAML was asked for with -o: then an error is
// printed to stdout as one error document too (see PrintError). A command
// whose own form is YAML (config view) prints errors as text unless asked.
func (p *PrintFlags) Machine() bool {
	return p.asked && (p.OutputFormat == output.JSON || p.OutputFormat == output.YAML)
}

// Printed tells whether Print has written the result.
func (p *PrintFlags) Printed() bool { return p.printed }

// Print writes v to w in the chosen format. For the command's own form it calls
// human with the writer to print to (nil for a command whose own form is YAML):
// a table printed there with output.PrintTable honours --no-headers, and
// output.IsWide tells the printer that -o wide was asked for.
func (p *PrintFlags) Print(w io.Writer, v any, human func(w io.Writer) error) error {
	p.printed = true
	format := p.OutputFormat
	if format == "" {
		format = p.def
	}
	if p.printer == nil && p.Structured() && !p.Machine() {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	switch {
	case p.printer != nil:
		obj, err := templateObject(v)
		if err != nil {
			return fmt.Errorf("print %s: %w", format, err)
		}
		if err := p.printer.PrintObj(obj, w); err != nil {
			return exitcode.BadUsage(err)
		}
		return nil
	case format == output.JSON, format == output.YAML, human == nil:
		if err := output.Print(w, format, v); err != nil {
			return fmt.Errorf("print %s: %w", format, err)
		}
		return nil
	}
	return human(output.TableOptions{NoHeaders: p.NoHeaders, Wide: format == output.Wide}.Writer(w))
}

// PrintError writes err to w as one error document in the chosen format when it
// is JSON or YAML and nothing else was printed yet, so that a script reading
// stdout always gets a document. It reports whether it printed.
func (p *PrintFlags) PrintError(w io.Writer, err error) bool {
	if err == nil || !p.Machine() || p.printed {
		return false
	}
	p.printed = true
	doc := output.ErrorDocument{Error: output.ErrorMessage(err), ExitCode: exitcode.Code(err)}
	return output.Print(w, p.OutputFormat, doc) == nil
}

// templateObject is v as cli-runtime's template printers take it: its JSON form
// as an unstructured object; a list is wrapped as kubectl wraps one, in a v1
// List's items, so that -o jsonpath='{.items[*]...}' works as with kubectl get.
func templateObject(v any) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var content any
	if err := json.Unmarshal(data, &content); err != nil {
		return nil, err
	}
	switch c := content.(type) {
	case map[string]any:
		return &unstructured.Unstructured{Object: c}, nil
	case []any:
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "List", "items": c}}, nil
	case nil:
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}}, nil
	}
	return nil, errors.New("the result is not an object or a list")
}

// orList joins "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
