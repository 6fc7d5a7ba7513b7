package cmdutil

import (
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// NamespaceFilterMeaning is what -n means for the list commands over Alertmanager.
const NamespaceFilterMeaning = `narrows the list as the matcher namespace="<-n>" does`

// AlertmanagerFilter is the Complete step the list commands over Alertmanager
// share: it checks the output format, then parses the matcher arguments
// (amtool's syntax), plus namespace="<-n>" when -n was given, into the filter
// the API's list endpoints take.
func AlertmanagerFilter(pf *PrintFlags, args []string, flags *genericclioptions.ConfigFlags) ([]string, error) {
	if err := pf.Validate(); err != nil {
		return nil, err
	}
	if ns, ok := GivenNamespace(flags); ok {
		args = append(append([]string{}, args...), "namespace="+strconv.Quote(ns))
	}
	return alertmanager.ParseFilter(args)
}

// AlertmanagerList is what the list commands over Alertmanager (alert list, silence list)
// share: the output flags, the filter parsed from the matcher arguments and -n, the
// client, the streams. Embed it and write only Run.
type AlertmanagerList struct {
	PrintFlags *PrintFlags
	// Filter is the parsed filter (after Complete).
	Filter  []string
	Streams genericiooptions.IOStreams

	flags  *genericclioptions.ConfigFlags
	client func() (*alertmanager.Client, error)
}

// NewAlertmanagerList prints tables by default.
func NewAlertmanagerList(flags *genericclioptions.ConfigFlags, client func() (*alertmanager.Client, error), streams genericiooptions.IOStreams) AlertmanagerList {
	return AlertmanagerList{PrintFlags: NewPrintFlags(output.Table), Streams: streams, flags: flags, client: client}
}

// AddFlags adds the output flags and says what -n means.
func (l *AlertmanagerList) AddFlags(cmd *cobra.Command) {
	l.PrintFlags.AddFlags(cmd)
	NamespaceOverrides(cmd, NamespaceFilterMeaning)
}

// Complete checks the output format and parses the filter matchers.
func (l *AlertmanagerList) Complete(args []string) (err error) {
	l.Filter, err = AlertmanagerFilter(l.PrintFlags, args, l.flags)
	return err
}

// Client is the Alertmanager client.
func (l *AlertmanagerList) Client() (*alertmanager.Client, error) { return l.client() }
