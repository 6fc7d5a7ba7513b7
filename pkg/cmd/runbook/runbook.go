// Package runbook wires `kubectl picluster runbook`: the runbooks shipped with the
// plugin, one per bundled alert (its runbook_url) plus the restore runbook.
package runbook

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

// NewCmdRunbook returns the `runbook` command group.
func NewCmdRunbook(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbook",
		Short: "List and read the runbooks shipped with the plugin",
		Long: `List and read the runbooks shipped with the plugin: one per bundled alert, the
page its runbook_url points at (Meaning, Impact, Diagnosis, Mitigation), and the
Postgres restore runbook. They work offline, at 3 a.m., from the binary itself.`,
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdList(streams), newCmdShow(streams))
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
					rows[i] = []string{r.Name, r.Title}
				}
				return output.PrintTable(w, []string{"NAME", "TITLE"}, rows)
			})
		},
	}
	pf.AddFlags(cmd)
	return cmd
}

func newCmdShow(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a runbook (an alert name, or restore)",
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
			text, err := runbook.Show(args[0])
			var nf *runbook.NotFoundError
			if errors.As(err, &nf) {
				return exitcode.BadUsage(err)
			}
			if err != nil {
				return err
			}
			if _, err := io.WriteString(streams.Out, text); err != nil {
				return fmt.Errorf("print runbook: %w", err)
			}
			return nil
		},
	}
}
