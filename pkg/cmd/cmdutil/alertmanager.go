package cmdutil

import (
	"strconv"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
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
