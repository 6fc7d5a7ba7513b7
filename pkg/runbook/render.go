package runbook

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// ANSI styles of the terminal rendering.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiTitle   = "\x1b[1;4m"
	ansiHeading = "\x1b[1;36m"
	ansiCommand = "\x1b[1;33m"
	ansiChange  = "\x1b[1;31m"
)

// fillForShow fills a step's template for reading: labels that neither the
// defaults nor an alert give show as <label>.
func fillForShow(text string, data Data) string {
	missing, err := MissingLabels(text, data)
	if err != nil {
		return text
	}
	if len(missing) > 0 {
		labels := map[string]string{}
		for k, v := range data.Labels {
			labels[k] = v
		}
		for _, m := range missing {
			labels[m] = "<" + m + ">"
		}
		data.Labels = labels
	}
	out, err := Expand(text, data)
	if err != nil {
		return text
	}
	return out
}

// Plain returns the runbook's Markdown with its steps' templates filled from
// data: what `runbook show` prints when stdout is not a terminal.
func Plain(d *Doc, markdown string, data Data) string {
	var b strings.Builder
	lines := strings.Split(markdown, "\n")
	stepAt := map[int]bool{}
	for _, s := range d.Steps {
		stepAt[s.Line] = true
	}
	for i := 0; i < len(lines); i++ {
		if stepAt[i+1] {
			lines[i] = fillForShow(lines[i], data) // the info string's title and problem
		}
		b.WriteString(lines[i])
		if i < len(lines)-1 {
			b.WriteString("\n")
		}
		if !stepAt[i+1] {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		body := fillForShow(strings.Join(lines[i+1:j], "\n"), data)
		b.WriteString(body)
		if j > i+1 {
			b.WriteString("\n")
		}
		i = j - 1
	}
	return b.String()
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// Render writes the runbook for a terminal: the title and headings styled,
// executable steps shown as the commands they run (templates filled from
// data) and marked when they change something, inline code in bold. With
// color false it writes the same layout without escape codes.
func Render(w io.Writer, d *Doc, data Data, color bool) error {
	st := func(style, s string) string {
		if !color {
			return s
		}
		return style + s + ansiReset
	}
	bw := bufio.NewWriter(w)
	if f := d.Front; f.Alert != "" || len(f.Components) > 0 {
		var parts []string
		if f.Alert != "" {
			parts = append(parts, "alert "+f.Alert)
		}
		if f.Severity != "" {
			parts = append(parts, "severity "+f.Severity)
		}
		if len(f.Components) > 0 {
			parts = append(parts, "components "+strings.Join(f.Components, ", "))
		}
		fmt.Fprintln(bw, st(ansiDim, strings.Join(parts, " · ")))
	}
	steps := map[int]Step{}
	for _, s := range d.Steps {
		steps[s.Line] = s
	}
	lines := strings.Split(d.Body, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		fileLine := d.bodyLine + i
		switch {
		case strings.HasPrefix(strings.TrimLeft(l, " "), "```"):
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
				j++
			}
			body := strings.Join(lines[i+1:min(j, len(lines))], "\n")
			if s, ok := steps[fileLine]; ok {
				s.Title, s.Problem = fillForShow(s.Title, data), fillForShow(s.Problem, data)
				renderStep(bw, s, fillForShow(body, data), st)
			} else {
				for _, bl := range strings.Split(body, "\n") {
					fmt.Fprintln(bw, "    "+bl)
				}
			}
			i = j
		case strings.HasPrefix(l, "## "):
			fmt.Fprintln(bw, st(ansiHeading, strings.TrimPrefix(l, "## ")))
		case strings.HasPrefix(l, "# "):
			fmt.Fprintln(bw, st(ansiTitle, strings.TrimPrefix(l, "# ")))
		default:
			fmt.Fprintln(bw, inlineCode.ReplaceAllStringFunc(l, func(m string) string {
				return st(ansiBold, strings.Trim(m, "`"))
			}))
		}
	}
	return bw.Flush()
}

func renderStep(w io.Writer, s Step, body string, st func(style, s string) string) {
	tag := "runs"
	if s.Mutating {
		tag = "changes the cluster: asks first"
	}
	head := "    " + st(ansiDim, "["+s.Kind+", "+tag+"]")
	if s.Mutating {
		head = "    " + st(ansiChange, "["+s.Kind+", "+tag+"]")
	}
	if s.Title != "" {
		head += " " + s.Title
	}
	if s.Problem != "" {
		head += st(ansiDim, " (a problem when "+s.Problem+")")
	}
	fmt.Fprintln(w, head)
	prompt := "$ "
	if s.Kind == KindPromQL {
		prompt = "promql> "
	}
	for i, bl := range strings.Split(strings.TrimSpace(body), "\n") {
		if i > 0 {
			prompt = strings.Repeat(" ", len(prompt))
		}
		fmt.Fprintln(w, "    "+prompt+st(ansiCommand, bl))
	}
}
