// Package targets wires `kubectl picluster targets`: Prometheus's scrape targets
// with their health, last scrape and last error.
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

// Options are the options of `targets`.
type Options struct {
	Job        string
	PrintFlags *cmdutil.PrintFlags

	jobRE   *regexp.Regexp
	client  *prometheus.Client
	f       *factory.Factory
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// NewCmdTargets returns the `targets` command.
func NewCmdTargets(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{f: f, streams: streams, PrintFlags: cmdutil.NewPrintFlags(output.Table), now: time.Now}
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "List Prometheus's scrape targets with health, last scrape and last error",
		Long: `List Prometheus's active scrape targets: job, instance, health, when they were
last scraped, how long it took and the last error.

Exits 1 when a listed target is down (or --job matches none), so a script can
wait on it.`,
		Example: cmdutil.Examples(
			"kubectl picluster targets",
			"kubectl picluster targets --job 'immich.*'",
			"kubectl picluster targets -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.Validate, o.Complete),
	}
	cmd.Flags().StringVar(&o.Job, "job", "", "Only targets whose job matches this regular expression (anchored, as =~ in PromQL)")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Validate checks the flags; it is pure.
func (o *Options) Validate() error {
	if err := o.PrintFlags.Validate(); err != nil {
		return err
	}
	re, err := prometheus.CompileJobPattern(o.Job)
	if err != nil {
		return exitcode.BadUsage(err)
	}
	o.jobRE = re
	return nil
}

// Complete connects to Prometheus.
func (o *Options) Complete() error {
	var err error
	o.client, err = o.f.Prometheus()
	return err
}

// Run lists the targets and fails when a listed one is down.
func (o *Options) Run(ctx context.Context) error {
	all, err := o.client.ActiveTargets(ctx)
	if err != nil {
		return err
	}
	targets := prometheus.FilterTargets(all, o.jobRE)
	if targets == nil {
		targets = []prometheus.Target{} // [] in JSON, not null
	}
	if err := o.PrintFlags.Print(o.streams.Out, targets, func(w io.Writer) error {
		if len(targets) == 0 {
			return nil
		}
		return prometheus.PrintTargets(w, targets, o.now())
	}); err != nil {
		return err
	}
	if len(targets) == 0 {
		if o.Job != "" {
			return exitcode.Failed(fmt.Errorf("no target's job matches %q (of %d targets)", o.Job, len(all)))
		}
		fmt.Fprintln(o.streams.ErrOut, "Prometheus has no active targets")
		return nil
	}
	return Down(targets)
}

// Down returns an error (exit 1) naming every target that is down, with its last error.
func Down(targets []prometheus.Target) error {
	var down []string
	for _, t := range targets {
		if t.Health == prometheus.HealthDown {
			down = append(down, fmt.Sprintf("%s %s: %s", t.Job, t.Instance, t.LastError))
		}
	}
	if len(down) == 0 {
		return nil
	}
	return exitcode.Failed(errors.New(fmt.Sprintf("%d of %s %s down:\n  ", len(down), output.Count(len(targets), "target"), output.Are(len(down))) + strings.Join(down, "\n  ")))
}
