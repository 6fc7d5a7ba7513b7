// Package completion wires `kubectl picluster completion`.
package completion

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// shells lists the shells a completion script can be printed for (a new slice
// each time: cobra keeps it, and nothing may change it for the next command).
func shells() []string { return []string{"bash", "zsh", "fish"} }

// NewCmdCompletion returns the `completion` command.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script for kubectl-picluster",
		Long: `Print a shell completion script for the kubectl-picluster binary.

With kubectl 1.26 or newer, "kubectl picluster <TAB>" completes without any of
this, as long as kubectl_complete-picluster (shipped in the release archive) is
on PATH and kubectl's own completion is loaded.`,
		Example: cmdutil.Examples(
			"source <(kubectl-picluster completion bash)",
			"kubectl-picluster completion zsh > \"${fpath[1]}/_kubectl-picluster\"",
			"kubectl-picluster completion fish > ~/.config/fish/completions/kubectl-picluster.fish",
		),
		ValidArgs: shells(),
		Args:      cmdutil.Args(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			}
			return exitcode.BadUsage(fmt.Errorf("unsupported shell %q", args[0]))
		},
	}
}
