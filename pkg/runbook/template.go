package runbook

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Data is what a step's template sees: {{ .Labels.namespace }} and
// {{ .Settings.Namespaces.Immich }}.
type Data struct {
	// Labels are the alert's labels: the runbook's defaults, overridden by the
	// firing alert's, overridden by --alert-labels.
	Labels map[string]string
	// Settings are the effective settings.
	Settings *settings.Settings
}

// funcs are the template functions a step may use.
var funcs = template.FuncMap{
	// selector writes a label map as a label selector (k=v,k2=v2), sorted.
	"selector": func(m map[string]string) string {
		keys := slices.Sorted(maps.Keys(m))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + m[k]
		}
		return strings.Join(parts, ",")
	},
	// slowRequestThreshold is ImmichSlowRequests' threshold in the unit of
	// immich.metrics.requestDuration (the bundle's alert compares the same).
	"slowRequestThreshold": func(s *settings.Settings) string {
		v := s.Immich.Thresholds.SlowRequestSeconds
		if s.Immich.Metrics.RequestDurationUnit == "milliseconds" {
			v *= 1000
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	},
}

func parseTemplate(text string) (*template.Template, error) {
	return template.New("step").Funcs(funcs).Option("missingkey=error").Parse(text)
}

// Expand fills a template with d.
func Expand(text string, d Data) (string, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("fill template: %w", err)
	}
	return b.String(), nil
}

// LabelRefs returns the label names a template reads ({{ .Labels.x }}), sorted.
func LabelRefs(text string) ([]string, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) >= 2 && n.Ident[0] == "Labels" {
				seen[n.Ident[1]] = true
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	if t.Tree != nil {
		walk(t.Tree.Root)
	}
	out := slices.Collect(maps.Keys(seen))
	sort.Strings(out)
	return out, nil
}

// MissingLabels returns the labels a template reads that d does not have (or has empty).
func MissingLabels(text string, d Data) ([]string, error) {
	refs, err := LabelRefs(text)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range refs {
		if d.Labels[r] == "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// DefaultLabels fills the front matter's label defaults from the settings.
func (f Front) DefaultLabels(s *settings.Settings) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range f.Labels {
		got, err := Expand(v, Data{Settings: s, Labels: map[string]string{}})
		if err != nil {
			return nil, fmt.Errorf("default of label %s: %w", k, err)
		}
		out[k] = got
	}
	return out, nil
}

// Condition is a promql step's problem attribute: a comparison with a number
// that a sample's value meets while the problem is there ("> 500", "== 0"),
// or "any" (any sample at all) or "none" (no sample).
type Condition struct {
	// Op is the comparison (">", ">=", "<", "<=", "==", "!=") or "any" or "none".
	Op string
	// Value is the number compared with.
	Value float64
}

// ParseCondition parses a problem attribute.
func ParseCondition(s string) (Condition, error) {
	s = strings.TrimSpace(s)
	if s == "any" || s == "none" {
		return Condition{Op: s}, nil
	}
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return Condition{}, fmt.Errorf("problem %q: %q is not a number", s, strings.TrimSpace(rest))
			}
			return Condition{Op: op, Value: v}, nil
		}
	}
	return Condition{}, fmt.Errorf(`problem %q: use a comparison such as "> 500", or "any" or "none"`, s)
}

// Met tells whether one sample's value meets the condition.
func (c Condition) Met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch c.Op {
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case "==":
		return v == c.Value
	case "!=":
		return v != c.Value
	case "any":
		return true
	}
	return false
}

// Present tells whether the problem is there, given a query's sample values.
func (c Condition) Present(values []float64) bool {
	if c.Op == "none" {
		return len(values) == 0
	}
	for _, v := range values {
		if c.Met(v) {
			return true
		}
	}
	return false
}
