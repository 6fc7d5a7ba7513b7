package output

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"k8s.io/cli-runtime/pkg/printers"
)

// TableOptions are the table flags a command was given: kubectl's --no-headers
// and -o wide. They ride on the writer a table is printed to (Writer), so that
// the printers in the domain packages need no extra parameter.
type TableOptions struct {
	// NoHeaders leaves the header line out (--no-headers).
	NoHeaders bool
	// Wide prints every cell in full instead of cutting it at MaxCellWidth (-o wide).
	Wide bool
}

// tableWriter is a writer that carries TableOptions.
type tableWriter struct {
	io.Writer
	opts TableOptions
}

// Writer returns w carrying the options.
func (o TableOptions) Writer(w io.Writer) io.Writer {
	if tw, ok := w.(tableWriter); ok {
		w = tw.Writer
	}
	return tableWriter{Writer: w, opts: o}
}

// TableOptionsOf returns the options w carries (none for a plain writer).
func TableOptionsOf(w io.Writer) TableOptions {
	if tw, ok := w.(tableWriter); ok {
		return tw.opts
	}
	return TableOptions{}
}

// IsWide tells whether -o wide was asked for the table printed to w: cells are
// then printed in full.
func IsWide(w io.Writer) bool { return TableOptionsOf(w).Wide }

var cellText = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ", "\f", " ", "\v", " ")

// MaxCellWidth is how many characters a table cell shows before its middle is cut
// to "…": a 100 KB silence comment must not push every other row off the screen.
// The full text is in -o wide, json and yaml.
const MaxCellWidth = 100

// PrintTable writes rows under header the way kubectl prints tables, through
// kubectl's own tab writer: no borders, columns three spaces apart. (tablewriter
// took 50 times as long for a few hundred silences, which made listing slower
// than amtool's.) Tabs and line breaks in cells become spaces, other control
// characters are escaped (Escape: cells hold text from servers), cells longer than
// MaxCellWidth are cut unless -o wide (IsWide(w)); lines carry no trailing blanks,
// even when their last cells are empty. With --no-headers (TableOptions on w) the
// header line is left out.
func PrintTable(w io.Writer, header []string, rows [][]string) error {
	wide := IsWide(w)
	var buf bytes.Buffer
	tw := printers.GetNewTabWriter(&buf)
	writeRow := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				_, _ = io.WriteString(tw, "\t")
			}
			_, _ = io.WriteString(tw, cell(c, wide))
		}
		_, _ = io.WriteString(tw, "\n")
	}
	if !TableOptionsOf(w).NoHeaders {
		writeRow(header)
	}
	for _, r := range rows {
		writeRow(r)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print table: %w", err)
	}
	var out bytes.Buffer
	for line := range bytes.Lines(buf.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := out.WriteTo(w)
	return err
}

// cell is c on one line, escaped, and cut to MaxCellWidth characters unless wide:
// the middle gives way, so both the start of a comment and the end of an error
// (its cause: "connect: connection refused") stay.
func cell(c string, wide bool) string {
	c = Escape(cellText.Replace(c))
	n := utf8.RuneCountInString(c)
	if wide || n <= MaxCellWidth {
		return c
	}
	r := []rune(c)
	head := (MaxCellWidth - 1) * 2 / 3
	tail := MaxCellWidth - 1 - head
	return string(r[:head]) + "…" + string(r[n-tail:])
}
