// Package runbook wires `kubectl picluster runbook`: the runbooks shipped with the
// plugin, one per bundled alert (its runbook_url) plus the restore runbook.
package runbook

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

// NewCmdRunbook returns the `runbook` command group. newRoot builds a fresh
// root command: `runbook run` runs the plugin's own steps through it.
func NewCmdRunbook(f *factory.Factory, streams genericiooptions.IOStreams, newRoot NewRoot) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbook",
		Short: "List, read and run the runbooks shipped with the plugin",
		Long: `List, read and run the runbooks shipped with the plugin: one per bundled alert,
the page its runbook_url points at (Meaning, Impact, Diagnosis, Mitigation), and
the Postgres restore runbook. They work offline, at 3 a.m., from the binary
itself; runbook run executes their diagnosis against the live cluster.`,
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdList(streams), newCmdShow(f, streams), newCmdRun(f, streams, newRoot))
	return cmd
}

func newCmdList(streams genericiooptions.IOStreams) *cobra.Command {
	pf := cmdutil.NewPrintFlags(output.Table)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the bundled runbooks",
		Example: cmdutil.Examples("kubectl picluster runbook list", "kubectl picluster runbook list -o json"),
		Args:    cmdutil.Args(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := pf.Validate(); err != nil {
				return err
			}
			list, err := runbook.List()
			if err != nil {
				return err
			}
			return pf.Print(streams.Out, list, func(w io.Writer) error {
				rows := make([][]string, len(list))
				for i, r := range list {
					sev := r.Severity
					if sev == "" {
						sev = "-"
					}
					rows[i] = []string{r.Name, sev, r.Title}
				}
				return output.PrintTable(w, []string{"NAME", "SEVERITY", "TITLE"}, rows)
			})
		},
	}
	pf.AddFlags(cmd)
	return cmd
}

func newCmdShow(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|URL",
		Short: "Print a runbook (an alert name, its runbook_url, or restore)",
		Long: `Print a runbook: an alert name (any case), the alert's runbook_url
(<runbooks.baseURL>/<Alert>.md), or restore. Its steps show the commands they run,
filled from the settings. On a terminal the headings and commands are styled
(not with NO_COLOR); piped, it is the Markdown itself.`,
		Example: cmdutil.Examples(
			"kubectl picluster runbook show ImmichServerDown",
			"kubectl picluster runbook show restore",
		),
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return runbook.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			name, err := runbook.Resolve(args[0])
			if err != nil {
				return exitcode.BadUsage(err)
			}
			text, err := runbook.Show(name)
			if err != nil {
				return err
			}
			doc, err := runbook.Parse(name, text)
			if err != nil {
				return err
			}
			s, err := f.Settings()
			if err != nil {
				return err
			}
			labels, err := doc.Front.DefaultLabels(s)
			if err != nil {
				return err
			}
			data := runbook.Data{Labels: labels, Settings: s}
			if isTerminal(streams.Out) {
				return runbook.Render(streams.Out, doc, data, os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb")
			}
			if _, err := io.WriteString(streams.Out, runbook.Plain(doc, text, data)); err != nil {
				return fmt.Errorf("print runbook: %w", err)
			}
			return nil
		},
	}
}
