// Package config wires `kubectl picluster config`.
package config

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// NewCmdConfig returns the `config` command group.
func NewCmdConfig(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the plugin's settings",
		Args:  cobra.ArbitraryArgs,
		RunE:  cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdView(f, streams))
	return cmd
}

func newCmdView(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	pf := cmdutil.NewPrintFlags(output.YAML)
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the effective settings: the defaults merged with the settings file",
		Long: `Print the effective settings: the defaults merged with the settings file
(--config, default $XDG_CONFIG_HOME/picluster/config.yaml). Settings only name
Secrets; no secret value is ever part of them.`,
		Example: cmdutil.Examples(
			"kubectl picluster config view",
			"kubectl picluster config view --config ./picluster.yaml -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.Validate(); err != nil {
				return err
			}
			s, err := f.Settings()
			if err != nil {
				return err
			}
			path, _ := f.SettingsPath()
			if _, statErr := os.Stat(path); statErr != nil {
				fmt.Fprintf(streams.ErrOut, "# no settings file at %s: showing the defaults\n", path)
			} else {
				fmt.Fprintf(streams.ErrOut, "# settings file: %s\n", path)
			}
			return pf.Print(streams.Out, s, nil)
		},
	}
	pf.AddFlags(cmd)
	return cmd
}
