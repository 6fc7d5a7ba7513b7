// Package rules wires `kubectl picluster rules`: the rule groups Prometheus has
// loaded, each rule's health, last error and state, and the alerts whose
// expression matches no series.
package rules

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/factory"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

// Options are the options of `rules`.
type Options struct {
	PrintFlags *cmdutil.PrintFlags

	client  *prometheus.Client
	f       *factory.Factory
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// NewCmdRules returns the `rules` command.
func NewCmdRules(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{f: f, streams: streams, PrintFlags: cmdutil.NewPrintFlags(output.Table), now: time.Now}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List Prometheus's rule groups: health, last error, state, and alerts that match no series",
		Long: `List the rule groups Prometheus has loaded, with each rule's health, last
error and state. Every expression is read with Prometheus's own PromQL parser and
each metric it selects is looked up: an alert whose metrics have no series at all
can never fire, and is flagged.

Exits 1 when a rule fails to evaluate.`,
		Example: cmdutil.Examples(
			"kubectl picluster rules",
			"kubectl picluster rules -o json",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run, o.PrintFlags.Validate, o.Complete),
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete connects to Prometheus.
func (o *Options) Complete() error {
	var err error
	o.client, err = o.f.Prometheus()
	return err
}

// Run lists the rules, flags those that match no series and fails when one errs.
func (o *Options) Run(ctx context.Context) error {
	loaded, err := o.client.Rules(ctx)
	if err != nil {
		return err
	}
	var queries []string
	for _, g := range loaded {
		for _, r := range g.Rules {
			queries = append(queries, r.Query)
		}
	}
	series, err := o.client.ExprSeries(ctx, queries, prometheus.DefaultSeriesWindow, o.now())
	if err != nil {
		return err
	}
	groups := prometheus.CheckRules(loaded, series)
	if err := o.PrintFlags.Print(o.streams.Out, groups, func(w io.Writer) error { return prometheus.PrintRules(w, groups) }); err != nil {
		return err
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.NoSeries && r.Kind == prometheus.KindAlert {
				fmt.Fprintf(o.streams.ErrOut, "Warning: %s can never fire: %s has no series\n", output.Escape(r.Name), output.Escape(strings.Join(r.MissingSeries, " and ")))
			}
		}
	}
	return prometheus.FailingRules(groups)
}
