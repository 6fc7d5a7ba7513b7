// Package cmd assembles `kubectl picluster`: the root command with kubectl's
// flags and the plugin's own, its subcommands, and the mapping of errors to exit codes.
package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	alertcmd "github.com/picluster/kubectl-picluster/pkg/cmd/alert"
	backupcmd "github.com/picluster/kubectl-picluster/pkg/cmd/backup"
	checkcmd "github.com/picluster/kubectl-picluster/pkg/cmd/check"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/cmd/completion"
	configcmd "github.com/picluster/kubectl-picluster/pkg/cmd/config"
	installcmd "github.com/picluster/kubectl-picluster/pkg/cmd/install"
	maintenancecmd "github.com/picluster/kubectl-picluster/pkg/cmd/maintenance"
	restorecmd "github.com/picluster/kubectl-picluster/pkg/cmd/restore"
	rulescmd "github.com/picluster/kubectl-picluster/pkg/cmd/rules"
	runbookcmd "github.com/picluster/kubectl-picluster/pkg/cmd/runbook"
	silencecmd "github.com/picluster/kubectl-picluster/pkg/cmd/silence"
	targetscmd "github.com/picluster/kubectl-picluster/pkg/cmd/targets"
	uninstallcmd "github.com/picluster/kubectl-picluster/pkg/cmd/uninstall"
	versioncmd "github.com/picluster/kubectl-picluster/pkg/cmd/version"
	webhookcmd "github.com/picluster/kubectl-picluster/pkg/cmd/webhook"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// NewRootCmd returns `kubectl picluster` with every subcommand.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	opts := &factory.Options{}
	f := factory.New(flags, opts)

	root := &cobra.Command{
		Use:   "kubectl-picluster",
		Short: "Operate a home k3s cluster: Immich, monitoring, alerting and Postgres backups",
		Long: `kubectl picluster turns the runbook of a home k3s cluster into commands:
install (and uninstall) the bundled monitoring, Immich, backup and RBAC
manifests, check the whole setup (also from cron), list scrape targets and
alert rules, manage Alertmanager silences and maintenance windows, fire test
alerts end to end, test the Discord webhook, run and follow the Postgres
backup and report its status, and read the runbooks offline or run
them against the live cluster.

Prometheus and Alertmanager are reached through the API server's service proxy,
so a kubeconfig is all it needs; --prometheus-url and --alertmanager-url reach
them directly instead.

Exit codes: 0 ok, 1 what was checked or asked failed, 2 usage, settings or
connection error, 124 timed out, 130 interrupted (SIGINT), 143 terminated
(SIGTERM): then one line says what was left in which state.`,
		Example: cmdutil.Examples(
			"kubectl picluster version",
			"kubectl picluster config view",
			"kubectl picluster --context pi-k3s version -o json",
		),
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl picluster"},
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          cmdutil.RunGroup,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(cmdutil.FlagError)

	pf := root.PersistentFlags()
	flags.AddFlags(pf)
	pf.StringVar(&opts.ConfigPath, "config", "", "Settings file (default $XDG_CONFIG_HOME/picluster/config.yaml)")
	pf.StringVar(&opts.PrometheusURL, "prometheus-url", "", "Reach Prometheus at this URL instead of through the API server's service proxy")
	pf.StringVar(&opts.AlertmanagerURL, "alertmanager-url", "", "Reach Alertmanager at this URL instead of through the API server's service proxy")
	addKlogFlags(pf)

	root.AddCommand(
		versioncmd.NewCmdVersion(f, streams),
		configcmd.NewCmdConfig(f, streams),
		completion.NewCmdCompletion(streams),
		silencecmd.NewCmdSilence(f, streams),
		maintenancecmd.NewCmdMaintenance(f, streams),
		alertcmd.NewCmdAlert(f, streams),
		webhookcmd.NewCmdWebhook(f, streams),
		checkcmd.NewCmdCheck(f, streams),
		backupcmd.NewCmdBackup(f, streams),
		restorecmd.NewCmdRestore(f, streams),
		targetscmd.NewCmdTargets(f, streams),
		rulescmd.NewCmdRules(f, streams),
		installcmd.NewCmdInstall(f, streams),
		uninstallcmd.NewCmdUninstall(f, streams),
		runbookcmd.NewCmdRunbook(f, streams, NewRootCmd),
	)
	cmdutil.Wire(root)
	return root
}

// addKlogFlags adds kubectl's -v/--v log level; client-go logs through klog.
func addKlogFlags(pf *pflag.FlagSet) {
	gofs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(gofs)
	if v := gofs.Lookup("v"); v != nil {
		p := pflag.PFlagFromGoFlag(v)
		p.Shorthand = "v"
		p.Usage = "Log level for API requests (as kubectl's -v)"
		pf.AddFlag(p)
	}
}

// Execute runs the plugin with args and returns the process exit code, printing
// an error once to errOut when there is one.
func Execute(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return Report(streams.ErrOut, err)
}

// Report prints err (unless the command already reported it) and returns its exit code.
func Report(errOut io.Writer, err error) int {
	if err == nil {
		return exitcode.OK
	}
	var silent exitcode.Silent
	var interrupted *exitcode.Interrupted
	switch {
	case errors.As(err, &interrupted):
		fmt.Fprintln(errOut, output.Escape(interrupted.Error())) // one line: what was left in which state
	case !errors.As(err, &silent):
		fmt.Fprintf(errOut, "Error: %s\n", output.ErrorText(err)) // escaped: errors carry server text
	}
	return exitcode.Code(err)
}
