package cmdutil

import "github.com/picluster/kubectl-picluster/pkg/alertmanager"

// AlertmanagerFilter is the Complete step the list commands over Alertmanager
// share: it checks the output format, then parses the matcher arguments
// (amtool's syntax) into the filter the API's list endpoints take.
func AlertmanagerFilter(pf *PrintFlags, args []string) ([]string, error) {
	if err := pf.Validate(); err != nil {
		return nil, err
	}
	return alertmanager.ParseFilter(args)
}
