// Package alertmanager holds the plugin's Alertmanager operations: silences built
// from amtool-style matchers, maintenance windows, end-to-end test alerts, and the
// Discord webhook test. Builders and evaluators are plain functions; the Client
// type does the I/O through Alertmanager's official API v2 client.
package alertmanager

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// parseMatcher is the parser amtool uses by default: Alertmanager's UTF-8 matcher
// parser with a fallback to the classic one, logging nothing.
var parseMatcher = compat.FallbackMatcherParser(slog.New(slog.DiscardHandler))

// operatorChars are the characters of the matcher operators =, !=, =~ and !~.
const operatorChars = "=!~"

// plainWordSpecials may not appear in a bare alertname: operators, braces, quotes,
// commas and white space all mean the argument was meant as a matcher.
const plainWordSpecials = operatorChars + `{}",'` + " \t\r\n"

// ParseMatchers parses command-line matchers in amtool's syntax, one matcher per
// argument: `alertname=Foo`, `severity=~"warn.*"`, `team!=infra`, `job!~"x|y"`.
// A first argument that is a plain word (no operator, brace, quote, comma or space)
// is the alertname, as in amtool. Unlike amtool, an argument that holds an operator
// but does not parse is refused rather than silently taken as an alertname, so a
// typo never becomes a silence that matches nothing. Errors exit 2.
func ParseMatchers(args []string) (labels.Matchers, error) {
	ms := make(labels.Matchers, 0, len(args))
	for i, arg := range args {
		if i == 0 && IsPlainWord(arg) {
			m, err := labels.NewMatcher(labels.MatchEqual, model.AlertNameLabel, arg)
			if err != nil {
				return nil, exitcode.BadUsage(fmt.Errorf("matcher %q: %w", arg, err))
			}
			ms = append(ms, m)
			continue
		}
		m, err := parseMatcher(arg, "cli")
		if err != nil {
			hint := `write matchers as name=value, name!=value, name=~"regex" or name!~"regex"`
			if i > 0 && IsPlainWord(arg) {
				hint = "only the first argument may be a bare alertname; " + hint
			}
			var reErr *syntax.Error
			if errors.As(err, &reErr) {
				// Go's text quotes the anchored expression Alertmanager compiles (`^(?:[)$`)
				err = fmt.Errorf("its regular expression does not parse (%s)", reErr.Code)
			}
			return nil, exitcode.BadUsage(fmt.Errorf("invalid matcher %q: %v (%s)", arg, err, hint))
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// IsPlainWord tells whether arg is a bare word that amtool reads as an alertname.
func IsPlainWord(arg string) bool {
	return arg != "" && !strings.ContainsAny(arg, plainWordSpecials)
}

// CheckSilenceMatchers reports what Alertmanager would refuse in a silence's
// matchers: none at all, or only matchers that also match an absent label (such a
// silence would mute every alert). Errors exit 2.
func CheckSilenceMatchers(ms labels.Matchers) error {
	if len(ms) == 0 {
		return exitcode.BadUsage(errors.New("no matchers: give at least one, e.g. alertname=Foo"))
	}
	if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches("") }) {
		return exitcode.BadUsage(fmt.Errorf("matchers %s would silence every alert: at least one must not match an empty value", FormatMatchers(ms)))
	}
	return nil
}

// APIMatchers converts parsed matchers to the API's form, as amtool does.
func APIMatchers(ms labels.Matchers) models.Matchers {
	out := make(models.Matchers, 0, len(ms))
	for _, m := range ms {
		name, value := m.Name, m.Value
		isEqual := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
		isRegex := m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp
		out = append(out, &models.Matcher{Name: &name, Value: &value, IsEqual: &isEqual, IsRegex: &isRegex})
	}
	return out
}

// FromAPIMatchers converts the API's matchers back to parsed ones.
func FromAPIMatchers(ms models.Matchers) (labels.Matchers, error) {
	out := make(labels.Matchers, 0, len(ms))
	for _, m := range ms {
		if m == nil || m.Name == nil || m.Value == nil {
			return nil, errors.New("matcher without name or value")
		}
		isRegex := m.IsRegex != nil && *m.IsRegex
		isEqual := m.IsEqual == nil || *m.IsEqual // absent before Alertmanager 0.22: equal
		t := labels.MatchEqual
		switch {
		case isRegex && isEqual:
			t = labels.MatchRegexp
		case isRegex:
			t = labels.MatchNotRegexp
		case !isEqual:
			t = labels.MatchNotEqual
		}
		lm, err := labels.NewMatcher(t, *m.Name, *m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", *m.Name, err)
		}
		out = append(out, lm)
	}
	return out, nil
}

// FormatMatchers writes matchers the way they are typed on the command line,
// separated by spaces: `alertname="Foo" severity=~"warn.*"`.
func FormatMatchers(ms labels.Matchers) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = formatMatcher(m.Name, m.Type.String(), m.Value)
	}
	return strings.Join(parts, " ")
}

// FormatAPIMatchers is FormatMatchers for the API's matchers, without compiling
// their regular expressions.
func FormatAPIMatchers(ms models.Matchers) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		if m == nil || m.Name == nil || m.Value == nil {
			return "<invalid matchers>"
		}
		isRegex := m.IsRegex != nil && *m.IsRegex
		isEqual := m.IsEqual == nil || *m.IsEqual
		op := map[[2]bool]string{{true, false}: "=", {false, false}: "!=", {true, true}: "=~", {false, true}: "!~"}[[2]bool{isEqual, isRegex}]
		parts = append(parts, formatMatcher(*m.Name, op, *m.Value))
	}
	return strings.Join(parts, " ")
}

// FilterStrings writes matchers as the API's filter parameters want them, one each.
func FilterStrings(ms labels.Matchers) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = formatMatcher(m.Name, m.Type.String(), m.Value)
	}
	return out
}

// valueEscaper escapes values as labels.Matcher.String does (OpenMetrics style),
// built once: upstream builds a new replacer for every matcher it prints.
var valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// formatMatcher prints a matcher exactly as labels.Matcher.String does.
func formatMatcher(name, op, value string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune("{}!=~,\\\"'`", r) }) {
		return strconv.Quote(name) + op + strconv.Quote(value)
	}
	return name + op + `"` + valueEscaper.Replace(value) + `"`
}

// SameMatchers tells whether a and b hold the same matchers, in any order.
func SameMatchers(a, b labels.Matchers) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(ms labels.Matchers) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = formatMatcher(m.Name, m.Type.String(), m.Value)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// ParseFilter parses the matcher arguments of a list command (amtool's
// syntax) into the filter strings the API's list endpoints take.
func ParseFilter(args []string) ([]string, error) {
	ms, err := ParseMatchers(args)
	if err != nil {
		return nil, err
	}
	return FilterStrings(ms), nil
}
