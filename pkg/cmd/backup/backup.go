// Package backup wires `kubectl picluster backup run|status|list|verify`.
package backup

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// namespaceMeaning is what -n means for the backup commands.
const namespaceMeaning = "the backup CronJob and its Jobs are looked for in this namespace instead of namespaces.backup"

// NewCmdBackup returns the `backup` command group.
func NewCmdBackup(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Run the Postgres backup now and follow it, or report how the backups stand",
		Example: cmdutil.Examples(
			"kubectl picluster backup run --follow",
			"kubectl picluster backup status",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdRun(f, streams), newCmdStatus(f, streams), newCmdList(f, streams), newCmdVerify(f, streams))
	return cmd
}

// common is what every backup command needs from the factory.
type common struct {
	f       *factory.Factory
	streams genericiooptions.IOStreams
}

// client builds the backup client on the settings' namespace (or -n) and CronJob.
func (c common) client() (*backup.Client, *settings.Settings, error) {
	s, err := c.f.Settings()
	if err != nil {
		return nil, nil, err
	}
	kube, err := c.f.KubeClient()
	if err != nil {
		return nil, nil, err
	}
	ns := s.Namespaces.Backup
	if given, ok := cmdutil.GivenNamespace(c.f.Flags()); ok {
		ns = given
	}
	return &backup.Client{Kube: kubernetes.Interface(kube), Namespace: ns, CronJob: s.Backup.CronJob}, s, nil
}

// missing turns a missing CronJob into a usage error that says how to install it.
func missing(err error) error {
	if errors.Is(err, backup.ErrCronJobMissing) {
		return exitcode.BadUsage(fmt.Errorf("%w: install it with kubectl picluster install --component backup", err))
	}
	return err
}

// isTerminal tells whether w is a terminal (progress is shown only there).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
