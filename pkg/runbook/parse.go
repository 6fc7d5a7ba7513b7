package runbook

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kinds of executable step: the first word of a fenced block's info string.
const (
	// KindPicluster runs a `kubectl picluster ...` command in-process.
	KindPicluster = "picluster"
	// KindKubectl runs a `kubectl ...` command in-process (read verbs, or a marked mutation).
	KindKubectl = "kubectl"
	// KindPromQL runs an instant PromQL query against Prometheus.
	KindPromQL = "promql"
)

// The sections every runbook has, in order; steps run in Diagnosis and Mitigation.
const (
	SectionMeaning    = "Meaning"
	SectionImpact     = "Impact"
	SectionDiagnosis  = "Diagnosis"
	SectionMitigation = "Mitigation"
)

// Front is a runbook's front matter (YAML between two `---` lines at the top).
type Front struct {
	// Alert is the alert the runbook is for (empty for a procedure such as restore).
	Alert string `json:"alert,omitempty"`
	// Severity is the alert's severity label.
	Severity string `json:"severity,omitempty"`
	// Components are the bundle components the runbook is about.
	Components []string `json:"components"`
	// Labels are the defaults of the labels the steps use when no firing alert
	// and no --alert-labels give them; values are templates over the settings.
	Labels map[string]string `json:"labels,omitempty"`
}

// Step is one executable fenced block.
type Step struct {
	// Section is the level-two heading the step is under.
	Section string `json:"section"`
	// Kind is picluster, kubectl or promql.
	Kind string `json:"kind"`
	// Title is the title attribute (what the step finds out or does).
	Title string `json:"title,omitempty"`
	// Problem is the problem attribute of a promql step: the condition on a
	// sample's value that means the problem is still there (e.g. "> 500").
	Problem string `json:"problem,omitempty"`
	// Mutating marks a step that changes something: it is asked for first.
	Mutating bool `json:"mutating,omitempty"`
	// Text is the block's content as written (a template).
	Text string `json:"text"`
	// Line is the line of the opening fence (1-based, counted in the whole file).
	Line int `json:"line"`
}

// Doc is a parsed runbook.
type Doc struct {
	// Name is the runbook's name (its file name without .md).
	Name string
	// Front is the front matter.
	Front Front
	// Title is the first level-one heading.
	Title string
	// Sections are the level-two headings, in order.
	Sections []string
	// Steps are the executable blocks, in order.
	Steps []Step
	// Body is the Markdown after the front matter.
	Body string
	// bodyLine is the file line where Body starts (1-based).
	bodyLine int
}

// Parse parses a runbook: its front matter, headings and executable steps.
// A malformed front matter, an unknown attribute or an unclosed block is an
// error naming the line.
func Parse(name, markdown string) (*Doc, error) {
	d := &Doc{Name: name, Body: markdown, bodyLine: 1}
	if rest, ok := strings.CutPrefix(markdown, "---\n"); ok {
		front, body, found := strings.Cut(rest, "\n---\n")
		if !found {
			return nil, fmt.Errorf("runbook %s: front matter has no closing ---", name)
		}
		if err := yaml.UnmarshalStrict([]byte(front), &d.Front); err != nil {
			return nil, fmt.Errorf("runbook %s: front matter: %w", name, err)
		}
		d.Body = body
		d.bodyLine = strings.Count(front, "\n") + 4
	}
	sc := bufio.NewScanner(strings.NewReader(d.Body))
	section, line := "", d.bodyLine-1
	var open *Step
	var fence string
	var indent int // a fence inside a list item is indented, and so is its content
	var text []string
	for sc.Scan() {
		line++
		l := sc.Text()
		if fence != "" {
			if strings.TrimSpace(l) == fence {
				if open != nil {
					open.Text = strings.Join(text, "\n")
					d.Steps = append(d.Steps, *open)
				}
				fence, open, text = "", nil, nil
				continue
			}
			for i := 0; i < indent && strings.HasPrefix(l, " "); i++ {
				l = l[1:]
			}
			text = append(text, l)
			continue
		}
		trimmed := strings.TrimLeft(l, " ")
		if info, ok := strings.CutPrefix(trimmed, "```"); ok {
			fence, indent = "```", len(l)-len(trimmed)
			step, err := parseInfo(info)
			if err != nil {
				return nil, fmt.Errorf("runbook %s line %d: %w", name, line, err)
			}
			if step != nil {
				step.Section, step.Line = section, line
			}
			open = step
			continue
		}
		if h, ok := strings.CutPrefix(l, "## "); ok {
			section = strings.TrimSpace(h)
			d.Sections = append(d.Sections, section)
		} else if h, ok := strings.CutPrefix(l, "# "); ok && d.Title == "" {
			d.Title = strings.TrimSpace(h)
		}
	}
	if fence != "" {
		return nil, fmt.Errorf("runbook %s: a code block is not closed", name)
	}
	return d, nil
}

// parseInfo reads a fence's info string: a step for an executable kind with its
// attributes, nil for any other block (shown, never run).
func parseInfo(info string) (*Step, error) {
	words, err := splitWords(info, true)
	if err != nil {
		return nil, fmt.Errorf("info string %q: %w", info, err)
	}
	if len(words) == 0 || !slices.Contains([]string{KindPicluster, KindKubectl, KindPromQL}, words[0]) {
		return nil, nil
	}
	s := &Step{Kind: words[0]}
	for _, w := range words[1:] {
		key, value, hasValue := strings.Cut(w, "=")
		switch {
		case key == "mutating" && !hasValue:
			s.Mutating = true
		case key == "title" && hasValue:
			s.Title = value
		case key == "problem" && hasValue && s.Kind == KindPromQL:
			s.Problem = value
		default:
			return nil, fmt.Errorf("info string %q: unknown attribute %q (a %s step takes title=\"...\"%s and mutating)",
				info, w, s.Kind, map[bool]string{true: `, problem="> N"`}[s.Kind == KindPromQL])
		}
	}
	if s.Mutating && s.Kind == KindPromQL {
		return nil, fmt.Errorf("info string %q: a promql step only reads", info)
	}
	return s, nil
}

// splitWords splits a line into words as a POSIX shell does for plain words:
// blanks separate, single and double quotes group and are removed. When attrs is
// false, the shell's operators (| ; & < > ` $( ) are refused outside quotes: a
// step runs one command, never a pipeline.
func splitWords(line string, attrs bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	runes := []rune(line)
	for i, r := range runes {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case !attrs && (strings.ContainsRune("|;&<>`", r) || r == '$' && i+1 < len(runes) && runes[i+1] == '('):
			return nil, fmt.Errorf("%q holds the shell operator %q: a step is one command, without pipes, redirections or substitutions", line, string(r))
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced %c quote in %q", quote, line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// commandLine joins a command step's lines (a trailing backslash continues a
// line) and splits it into words, without the leading `kubectl picluster` or
// `kubectl`.
func commandLine(kind, text string) ([]string, error) {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			b.WriteString(c + " ")
			continue
		}
		if b.Len() > 0 && !strings.HasSuffix(b.String(), " ") {
			return nil, fmt.Errorf("a %s step holds one command, got several lines", kind)
		}
		b.WriteString(l)
	}
	words, err := splitWords(b.String(), false)
	if err != nil {
		return nil, err
	}
	prefix := []string{"kubectl"}
	if kind == KindPicluster {
		prefix = []string{"kubectl", "picluster"}
	}
	if len(words) <= len(prefix) || !slices.Equal(words[:len(prefix)], prefix) {
		return nil, fmt.Errorf("a %s step starts with %q and names a command", kind, strings.Join(prefix, " "))
	}
	return words[len(prefix):], nil
}
