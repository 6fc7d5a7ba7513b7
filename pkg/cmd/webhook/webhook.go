// Package webhook wires `kubectl picluster webhook test`.
package webhook

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// NewCmdWebhook returns the `webhook` command group.
func NewCmdWebhook(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Test the Discord webhook Alertmanager notifies through",
		Example: cmdutil.Examples(
			"kubectl picluster webhook test",
		),
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunGroup,
	}
	cmd.AddCommand(newCmdTest(f, streams))
	return cmd
}

// TestOptions are the options of `webhook test`.
type TestOptions struct {
	PrintFlags *cmdutil.PrintFlags
	Timeout    time.Duration

	settings func() (*settings.Settings, error)
	flags    *genericclioptions.ConfigFlags
	kube     func() (kubernetes.Interface, error)
	streams  genericiooptions.IOStreams
}

func newCmdTest(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &TestOptions{PrintFlags: cmdutil.NewPrintFlags(output.Text), Timeout: 2 * time.Minute, settings: f.Settings, kube: f.KubeClient, flags: f.Flags(), streams: streams}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Post a test message straight to the Discord webhook from its Secret",
		Long: `Read the Discord webhook URL from its Secret (settings key
monitoring.discordWebhookSecret, in namespaces.monitoring) and post a test
message to it, bypassing Alertmanager: this tells a broken webhook apart from a
broken route. Discord's rate limits (429 with retry_after) are waited out. The
URL holds the webhook's token, so it is never printed, not even in errors.

Exit codes: 0 Discord took the message, 1 Discord refused it, 2 the Secret is
missing or Discord cannot be reached, 124 --timeout ran out.`,
		Example: cmdutil.Examples(
			"kubectl picluster webhook test",
			"kubectl picluster --context pi-k3s webhook test -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.PrintFlags.Validate),
	}
	cmdutil.OnInterrupt(cmd, "the test message may or may not have reached Discord; nothing else was changed")
	cmdutil.NamespaceOverrides(cmd, "the webhook's Secret is read from this namespace instead of namespaces.monitoring")
	o.PrintFlags.AddFlags(cmd)
	cmdutil.DurationVarP(cmd.Flags(), &o.Timeout, "timeout", "", "How long to try in all, rate limits included")
	return cmd
}

// Run reads the Secret and posts the message.
func (o *TestOptions) Run(ctx context.Context) error {
	s, err := o.settings()
	if err != nil {
		return err
	}
	kube, err := o.kube()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ns, ref := s.Namespaces.Monitoring, s.Monitoring.DiscordSecret
	if given, ok := cmdutil.GivenNamespace(o.flags); ok {
		ns = given
	}
	url, err := alertmanager.DiscordWebhookURL(ctx, kube, ns, ref)
	if err != nil {
		return err
	}
	from := fmt.Sprintf("secret %s/%s key %s", ns, ref.Name, ref.Key)
	res, err := alertmanager.SendDiscord(ctx, url, alertmanager.TestMessage(time.Now()), alertmanager.WebhookOptions{Progress: o.streams.ErrOut})
	if err != nil {
		err = fmt.Errorf("webhook from %s: %w", from, err)
		if res != nil && o.PrintFlags.Structured() { // what Discord answered, for a script
			res.Error = err.Error()
			_ = o.PrintFlags.Print(o.streams.Out, res, nil)
		}
		return err
	}
	return o.PrintFlags.Print(o.streams.Out, res, func(w io.Writer) error {
		fmt.Fprintf(w, "Discord (%s) took the test message (webhook from %s, message %s)\n", res.Host, from, res.MessageID)
		return nil
	})
}
