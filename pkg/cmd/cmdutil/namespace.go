package cmdutil

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// namespaceAnnotation holds what -n/--namespace means for a command that takes it.
const namespaceAnnotation = "picluster.dev/namespace"

// NamespaceOverrides records that a given -n/--namespace overrides a setting
// for cmd; meaning is the sentence its help shows ("the Secret is read from
// this namespace instead of namespaces.monitoring"). Every other command
// refuses -n (exit 2) rather than silently ignoring it.
func NamespaceOverrides(cmd *cobra.Command, meaning string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[namespaceAnnotation] = meaning
}

// namespaceGiven tells whether -n/--namespace was on the command line.
func namespaceGiven(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("namespace")
	return f != nil && f.Changed
}

// takesNamespace tells whether cmd gives -n a meaning (a group never runs
// anything with it).
func takesNamespace(cmd *cobra.Command) bool {
	_, ok := cmd.Annotations[namespaceAnnotation]
	return ok || cmd.HasSubCommands()
}

// checkNamespace refuses a given -n for a command that gives it no meaning.
func checkNamespace(cmd *cobra.Command) error {
	if !namespaceGiven(cmd) || takesNamespace(cmd) {
		return nil
	}
	return exitcode.BadUsage(fmt.Errorf("%s does not take -n/--namespace: the namespaces it works in come from the settings (kubectl picluster config view), and it would otherwise ignore -n", cmd.CommandPath()))
}

// documentNamespace adds to cmd's help what -n means for it, or that it is refused.
func documentNamespace(cmd *cobra.Command) {
	if cmd.HasSubCommands() || (cmd.RunE == nil && cmd.Run == nil) {
		return
	}
	note := "-n/--namespace is refused (exit 2): this command does not work in one namespace of your choosing."
	if meaning, ok := cmd.Annotations[namespaceAnnotation]; ok {
		note = "-n/--namespace: " + meaning + "."
	}
	long := cmd.Long
	if long == "" {
		long = cmd.Short + "."
	}
	cmd.Long = long + "\n\n" + note
}

// GivenNamespace returns -n/--namespace when it was given on the command line
// (the kubeconfig context's namespace does not count: the settings win over it).
func GivenNamespace(flags *genericclioptions.ConfigFlags) (string, bool) {
	if flags == nil || flags.Namespace == nil || *flags.Namespace == "" {
		return "", false
	}
	return *flags.Namespace, true
}
