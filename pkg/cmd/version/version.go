// Package version wires `kubectl picluster version`.
package version

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	k8sversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	pluginversion "github.com/picluster/kubectl-picluster/pkg/version"
)

// serverTimeout bounds the server version lookup when --request-timeout is unset:
// `version` must stay quick and must not fail when no cluster answers.
const serverTimeout = 5 * time.Second

// Options are the options of `version`.
type Options struct {
	PrintFlags *cmdutil.PrintFlags
	ClientOnly bool

	restConfig func() (*rest.Config, error)
	streams    genericiooptions.IOStreams
}

// Result is what `version -o json` prints.
type Result struct {
	ClientVersion pluginversion.Info `json:"clientVersion"`
	ServerVersion *k8sversion.Info   `json:"serverVersion,omitempty"`
	// ServerError says why the server version is missing, when it was asked for.
	ServerError string `json:"serverError,omitempty"`
}

// NewCmdVersion returns the `version` command.
func NewCmdVersion(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{PrintFlags: cmdutil.NewPrintFlags(output.Text), streams: streams, restConfig: f.RESTConfig}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, and the cluster's when one answers",
		Example: cmdutil.Examples(
			"kubectl picluster version",
			"kubectl picluster version --client -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate),
	}
	o.PrintFlags.AddFlags(cmd)
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Print the plugin's version only, without asking the cluster")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	return o.PrintFlags.Validate()
}

// Run prints the versions. An unreachable cluster is reported, never an error.
func (o *Options) Run(ctx context.Context) error {
	res := Result{ClientVersion: pluginversion.Get()}
	if !o.ClientOnly {
		res.ServerVersion, res.ServerError = o.serverVersion(ctx)
	}
	return o.PrintFlags.Print(o.streams.Out, res, func(w io.Writer) error {
		c := res.ClientVersion
		fmt.Fprintf(w, "Client Version: %s (commit %s, %s, %s)\n", c.Version, c.Commit, c.GoVersion, c.Platform)
		switch {
		case res.ServerVersion != nil:
			fmt.Fprintf(w, "Server Version: %s\n", output.Escape(res.ServerVersion.GitVersion))
		case res.ServerError != "":
			fmt.Fprintf(o.streams.ErrOut, "Server Version: unavailable: %s\n", output.Escape(res.ServerError))
		}
		return nil
	})
}

func (o *Options) serverVersion(ctx context.Context) (*k8sversion.Info, string) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err.Error()
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = serverTimeout
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err.Error()
	}
	type answer struct {
		info *k8sversion.Info
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		info, err := dc.ServerVersion()
		done <- answer{info, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, a.err.Error()
		}
		return a.info, ""
	case <-ctx.Done():
		return nil, ctx.Err().Error()
	}
}
