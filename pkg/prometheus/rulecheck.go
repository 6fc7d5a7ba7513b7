package prometheus

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// CheckedGroup is a loaded rule group with the series check of each rule: what
// `rules` lists.
type CheckedGroup struct {
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Interval float64       `json:"intervalSeconds"`
	Rules    []CheckedRule `json:"rules"`
}

// CheckedRule is a loaded rule and what its expression selects.
type CheckedRule struct {
	Rule
	// NoSeries is set when the expression can return nothing: every series it
	// needs is missing, so the alert can never fire.
	NoSeries bool `json:"noSeries"`
	// MissingSeries lists the selectors that match no series.
	MissingSeries []string `json:"missingSeries,omitempty"`
	// ParseError is set when the expression does not parse.
	ParseError string `json:"parseError,omitempty"`
}

// CheckRules joins the rules with the series answers (in the order ExprSeries got them).
func CheckRules(loaded []RuleGroup, series []AlertSeries) []CheckedGroup {
	groups := make([]CheckedGroup, 0, len(loaded))
	i := 0
	for _, g := range loaded {
		out := CheckedGroup{Name: g.Name, File: g.File, Interval: g.Interval, Rules: []CheckedRule{}}
		for _, r := range g.Rules {
			s := series[i]
			i++
			rule := CheckedRule{Rule: r, MissingSeries: s.Missing, NoSeries: s.ParseErr == nil && !s.CanFire}
			if s.ParseErr != nil {
				rule.ParseError = s.ParseErr.Error()
			}
			out.Rules = append(out.Rules, rule)
		}
		groups = append(groups, out)
	}
	return groups
}

// FailingRules returns an error (exit 1) naming every rule that fails to evaluate.
func FailingRules(groups []CheckedGroup) error {
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
	return exitcode.Failed(errors.New(fmt.Sprintf("%s to evaluate:\n  ", failCount(len(bad))) + strings.Join(bad, "\n  ")))
}

// PrintRules writes the rules as a table, one line per rule.
func PrintRules(w io.Writer, groups []CheckedGroup) error {
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

func seriesColumn(r CheckedRule) string {
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

// failCount is "1 rule fails" or "3 rules fail".
func failCount(n int) string {
	if n == 1 {
		return "1 rule fails"
	}
	return output.Count(n, "rule") + " fail"
}
