// Package rules wires `kubectl picluster rules`: the rule groups Prometheus has
// loaded, each rule's health, last error and state, and the alerts whose
// expression matches no series.
package rules

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Options are the options of `rules`.
type Options struct {
	PrintFlags *cmdutil.PrintFlags

	client  *prometheus.Client
	f       *factory.Factory
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// Group is a loaded rule group with the series check of each rule.
type Group struct {
	Name     string  `json:"name"`
	File     string  `json:"file"`
	Interval float64 `json:"intervalSeconds"`
	Rules    []Rule  `json:"rules"`
}

// Rule is a loaded rule and what its expression selects.
type Rule struct {
	prometheus.Rule
	// NoSeries is set when the expression can return nothing: every series it
	// needs is missing, so the alert can never fire.
	NoSeries bool `json:"noSeries"`
	// MissingSeries lists the selectors that match no series.
	MissingSeries []string `json:"missingSeries,omitempty"`
	// ParseError is set when the expression does not parse.
	ParseError string `json:"parseError,omitempty"`
}

// NewCmdRules returns the `rules` command.
func NewCmdRules(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{f: f, streams: streams, PrintFlags: cmdutil.NewPrintFlags(output.Table, output.JSON), now: time.Now}
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.PrintFlags.Validate(); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete connects to Prometheus.
func (o *Options) Complete() error {
	var err error
	o.client, err = prometheus.FromFactory(o.f)
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
	groups := Annotate(loaded, series)
	if err := o.PrintFlags.Print(o.streams.Out, groups, func() error { return PrintRules(o.streams.Out, groups) }); err != nil {
		return err
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.NoSeries && r.Kind == prometheus.KindAlert {
				fmt.Fprintf(o.streams.ErrOut, "Warning: %s can never fire: %s has no series\n", r.Name, strings.Join(r.MissingSeries, " and "))
			}
		}
	}
	return Failing(groups)
}

// Annotate joins the rules with the series answers (in the order ExprSeries got them).
func Annotate(loaded []prometheus.RuleGroup, series []prometheus.AlertSeries) []Group {
	groups := make([]Group, 0, len(loaded))
	i := 0
	for _, g := range loaded {
		out := Group{Name: g.Name, File: g.File, Interval: g.Interval, Rules: []Rule{}}
		for _, r := range g.Rules {
			s := series[i]
			i++
			rule := Rule{Rule: r, MissingSeries: s.Missing, NoSeries: s.ParseErr == nil && !s.CanFire}
			if s.ParseErr != nil {
				rule.ParseError = s.ParseErr.Error()
			}
			out.Rules = append(out.Rules, rule)
		}
		groups = append(groups, out)
	}
	return groups
}

// Failing returns an error (exit 1) naming every rule that fails to evaluate.
func Failing(groups []Group) error {
	var bad []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Health == "err" || r.LastError != "" {
				bad = append(bad, fmt.Sprintf("%s/%s: %s", g.Name, r.Name, r.LastError))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return exitcode.Failed(errors.New(fmt.Sprintf("%d rules fail to evaluate:\n  ", len(bad)) + strings.Join(bad, "\n  ")))
}

// PrintRules writes the rules as a table, one line per rule.
func PrintRules(w io.Writer, groups []Group) error {
	var rows [][]string
	for _, g := range groups {
		for _, r := range g.Rules {
			state := r.State
			if state == "" {
				state = "-"
			}
			rows = append(rows, []string{g.Name, r.Name, r.Kind, r.Health, state, seriesColumn(r), strings.Join(strings.Fields(r.LastError), " ")})
		}
	}
	if len(rows) == 0 {
		_, err := io.WriteString(w, "Prometheus has no rules loaded\n")
		return err
	}
	return output.PrintTable(w, []string{"GROUP", "RULE", "KIND", "HEALTH", "STATE", "SERIES", "LAST ERROR"}, rows)
}

func seriesColumn(r Rule) string {
	switch {
	case r.ParseError != "":
		return "unparsable"
	case r.NoSeries:
		return "NONE: " + strings.Join(r.MissingSeries, ", ")
	case len(r.MissingSeries) > 0:
		return "partly missing: " + strings.Join(r.MissingSeries, ", ")
	}
	return "ok"
}
