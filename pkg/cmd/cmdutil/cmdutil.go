// Package cmdutil holds the small pieces every command's wiring shares.
package cmdutil

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Args wraps a cobra argument validator so that its complaint exits 2.
func Args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return exitcode.BadUsage(v(cmd, args))
	}
}

// RunGroup is the RunE of a command that only groups subcommands: without
// arguments it shows help, with an unknown one it fails with exit 2 and
// suggestions, instead of cobra's silent help and exit 0.
func RunGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, applied only on its path
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += ", did you mean " + strings.Join(s, " or ") + "?"
	}
	return exitcode.BadUsage(fmt.Errorf("%s (see '%s --help')", msg, cmd.CommandPath()))
}

// Examples indents example lines the way kubectl's help shows them.
func Examples(lines ...string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return strings.Join(out, "\n")
}

// RunAfter returns a command's RunE that ignores the positional arguments,
// calls each step in order and stops at the first error, then calls run with
// the command's context.
func RunAfter(run func(context.Context) error, steps ...func() error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return run(cmd.Context())
	}
}

// CompleteAndRun returns a command's RunE that passes the positional
// arguments to complete and, if that succeeds, calls run with the command's
// context.
func CompleteAndRun(complete func([]string) error, run func(context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := complete(args); err != nil {
			return err
		}
		return run(cmd.Context())
	}
}
