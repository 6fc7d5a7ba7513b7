package cmdutil

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Wire gives every command under root (root included) the behaviour all
// commands share, around their own Args and RunE: -n/--namespace is refused
// (exit 2) by a command that gives it no meaning (NamespaceOverrides), and
// each help says which; a command that SIGINT or
// SIGTERM stopped ends with exitcode.Interrupted and the state it leaves
// (OnInterrupt); when a command fails and -o json or yaml was asked for, one
// error document goes to stdout (unless the result was printed already); the
// message still goes to stderr, printed by the caller of Execute.
func Wire(root *cobra.Command) {
	wire(root)
	for _, c := range root.Commands() {
		Wire(c)
	}
}

func wire(c *cobra.Command) {
	documentNamespace(c)
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := checkNamespace(cmd); err != nil {
				return finish(cmd, err)
			}
			return finish(cmd, args(cmd, a))
		}
	}
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, a []string) error {
			if err := checkNamespace(cmd); err != nil {
				return finish(cmd, err)
			}
			return finish(cmd, interrupted(cmd, run(cmd, a)))
		}
	}
}

// FlagError is the root's flag error function: a usage error (exit 2), also
// printed as an error document when -o json or yaml was parsed already. On a
// group command whose first argument names no subcommand the unknown command is
// the error ("maintenance strat -d 2h" is a typo of start, not an unknown -d
// flag of maintenance).
func FlagError(cmd *cobra.Command, err error) error {
	if args := cmd.Flags().Args(); len(args) > 0 && cmd.HasAvailableSubCommands() {
		return RunGroup(cmd, args)
	}
	return finish(cmd, exitcode.BadUsage(err))
}

// finish prints err as an error document when the command's output format
// asks for one.
func finish(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var silent exitcode.Silent
	if errors.As(err, &silent) {
		return err // the command reported its outcome itself
	}
	if pf := PrintFlagsOf(cmd); pf != nil {
		pf.PrintError(cmd.OutOrStdout(), err)
	}
	return err
}
