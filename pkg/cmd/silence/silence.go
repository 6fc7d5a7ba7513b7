// Package silence wires `kubectl picluster silence add|list|expire|extend`.
package silence

import (
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// NewCmdSilence returns the `silence` command group.
func NewCmdSilence(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Add, list, expire and extend Alertmanager silences (amtool's matcher syntax)",
		Long: `Add, list, expire and extend Alertmanager silences.

Matchers are written as amtool writes them, one per argument: name=value,
name!=value, name=~"regex", name!~"regex"; a plain first word is the alertname.
Unlike amtool, an argument that holds an operator but does not parse is refused
(exit 2) instead of becoming a silence on a nonsense alertname.`,
		Example: cmdutil.Examples(
			`kubectl picluster silence add ImmichThumbnailQueueStuck --duration 2h --comment "re-indexing the library"`,
			`kubectl picluster silence list`,
			`kubectl picluster silence extend 8f6f7c1e-0c1d-4d2a-9a55-0d7c51d0b0e2 --duration 1h`,
			`kubectl picluster silence expire $(kubectl picluster silence list -q alertname=ImmichThumbnailQueueStuck)`,
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(
		newCmdAdd(f, streams),
		newCmdList(f, streams),
		newCmdExpire(f, streams),
		newCmdExtend(f, streams),
	)
	return cmd
}

// completeSilenceIDs completes the IDs of the current silences, each described
// by its matchers, for `expire` and `extend`.
func completeSilenceIDs(f *factory.Factory, max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := f.Alertmanager()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		all, err := c.Silences(cmd.Context(), nil)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for _, s := range alertmanager.FilterSilences(all, false) {
			id := alertmanager.SilenceID(s)
			if !slices.Contains(args, id) {
				out = append(out, cobra.CompletionWithDesc(id, alertmanager.FormatAPIMatchers(s.Matchers)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
