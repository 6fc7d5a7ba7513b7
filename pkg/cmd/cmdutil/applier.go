package cmdutil

import (
	"io"

	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/apply"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// NewApplier gets the REST config and builds an applier on it, as install and
// uninstall both need; a config the applier cannot use is a usage error (exit 2).
func NewApplier(restConfig func() (*rest.Config, error), progress io.Writer) (*apply.Applier, error) {
	cfg, err := restConfig()
	if err != nil {
		return nil, err
	}
	a, err := apply.New(cfg, progress)
	if err != nil {
		return nil, exitcode.BadUsage(err)
	}
	return a, nil
}
