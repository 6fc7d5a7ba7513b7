package runbook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/runbook"
)

// NewRoot builds a fresh root command of the plugin; the runner runs every
// picluster step through one of its own, so no state is shared between steps.
type NewRoot func(streams genericiooptions.IOStreams) *cobra.Command

// plugin runs picluster steps in-process through a fresh root command, with
// the global flags (kubeconfig, context, --config, ...) the runbook run got.
type plugin struct {
	newRoot NewRoot
	global  []string
	in      io.Reader
}

// globalFlags returns the root's persistent flags that were set, as arguments.
func globalFlags(root *cobra.Command) []string {
	var out []string
	// VisitAll and Changed: a subcommand parses the root's persistent flags
	// in its own flag set, so the root's set never records them as visited.
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return out
}

// readOnly are the plugin's commands that change nothing (reading the NAS
// through a short-lived Job counts as reading); every other command, and any
// new one, is taken to change something, so a step running it must be marked.
var readOnly = map[string]bool{
	"version": true, "config view": true, "check": true, "targets": true, "rules": true,
	"silence list": true, "maintenance status": true, "alert list": true,
	"backup status": true, "backup list": true, "backup verify": true,
	"runbook list": true, "runbook show": true,
}

// planFlags make a command that changes things only print what it would do.
var planFlags = []string{"dry-run", "export"}

// mutates tells whether c, with its flags parsed, changes anything.
func mutates(c *cobra.Command) bool {
	var path []string
	for x := c; x.HasParent(); x = x.Parent() {
		path = append([]string{x.Name()}, path...)
	}
	if readOnly[strings.Join(path, " ")] {
		return false
	}
	for _, name := range planFlags {
		if f := c.Flags().Lookup(name); f != nil && f.Changed && f.Value.String() != "none" && f.Value.String() != "false" {
			return false
		}
	}
	return true
}

// Check finds the command args name in a fresh command tree and parses its
// flags and arguments, without running it, and tells whether it changes anything.
func (p *plugin) Check(args []string) (bool, error) {
	root := p.newRoot(genericiooptions.NewTestIOStreamsDiscard())
	c, rest, err := root.Find(args)
	if err != nil {
		return false, fmt.Errorf("no such command: %w", err)
	}
	if c == root {
		return false, fmt.Errorf("unknown command %q: no such command of the plugin", args[0])
	}
	if c.HasAvailableSubCommands() {
		return false, fmt.Errorf("%q is a command group, not a command", strings.Join(args, " "))
	}
	if c.Parent() != nil && c.Parent().Name() == "runbook" && c.Name() == "run" {
		return false, errors.New("a runbook does not run runbooks")
	}
	if err := c.ParseFlags(rest); err != nil {
		return false, fmt.Errorf("%s: %w", c.CommandPath(), err)
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		return false, fmt.Errorf("%s: %w", c.CommandPath(), err)
	}
	return mutates(c), nil
}

// Run runs the command with its output and errors to out.
func (p *plugin) Run(ctx context.Context, args []string, out io.Writer) error {
	w := &lockedWriter{w: out}
	root := p.newRoot(genericiooptions.IOStreams{In: p.in, Out: w, ErrOut: w})
	root.SetArgs(append(append([]string{}, p.global...), args...))
	return root.ExecuteContext(ctx)
}

// lockedWriter lets a command write from several goroutines (logs it follows).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// StepPlugin returns the runner of picluster steps over newRoot, without
// global flags: what `runbook run` uses, for checking runbooks in tests.
func StepPlugin(newRoot NewRoot, in io.Reader) runbook.Plugin {
	return &plugin{newRoot: newRoot, in: in}
}
