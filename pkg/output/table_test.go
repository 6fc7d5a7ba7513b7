package output

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestPrintTable(t *testing.T) {
	tests := map[string]struct {
		header []string
		rows   [][]string
		opts   TableOptions
		want   string
	}{
		"aligned, three spaces apart": {
			header: []string{"ID", "MATCHERS", "STATE"},
			rows:   [][]string{{"a", `alertname="Foo"`, "active"}, {"bbbbbbbb", `x="1"`, "expired"}},
			want: "ID         MATCHERS          STATE\n" +
				"a          alertname=\"Foo\"   active\n" +
				"bbbbbbbb   x=\"1\"             expired\n",
		},
		"empty last cells leave no trailing blanks": {
			header: []string{"NAME", "MUTED BY"},
			rows:   [][]string{{"Foo", ""}, {"Bar", "silence 1"}},
			want:   "NAME   MUTED BY\nFoo\nBar    silence 1\n",
		},
		"tabs and line breaks in cells": {
			header: []string{"ID", "COMMENT"},
			rows:   [][]string{{"a", "two\tcolumns\nand lines"}},
			want:   "ID    COMMENT\na     two columns and lines\n",
		},
		"header only (kubectl minimum width 6)": {header: []string{"ID", "STATE"}, want: "ID    STATE\n"},
		"--no-headers leaves the header out, columns still aligned": {
			header: []string{"ID", "STATE"},
			rows:   [][]string{{"a", "active"}, {"bbbbbbbb", "expired"}},
			opts:   TableOptions{NoHeaders: true},
			want:   "a          active\nbbbbbbbb   expired\n",
		},
		"wide alone changes nothing here": {header: []string{"ID"}, rows: [][]string{{"a"}}, opts: TableOptions{Wide: true}, want: "ID\na\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, PrintTable(tc.opts.Writer(&buf), tc.header, tc.rows))
			assert.Equal(t, tc.opts.Wide, IsWide(tc.opts.Writer(&buf)))
			assert.Equal(t, tc.want, buf.String())
		})
	}
}

func TestEscape(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain text stays":       {in: `alertname="Foo" ä ü 日本`, want: `alertname="Foo" ä ü 日本`},
		"line feed and tab stay": {in: "a\n\tb", want: "a\n\tb"},
		// ESC and CR as kubectl writes them (cli-runtime printers.EscapeTerminal)
		"colour":          {in: "\x1b[31mred\x1b[0m", want: "^[[31mred^[[0m"},
		"carriage return": {in: "ok\rFAIL", want: `ok\rFAIL`},
		"window title":    {in: "\x1b]0;pwned\x07", want: "^[]0;pwned^G"},
		"NUL and DEL":     {in: "a\x00b\x7fc", want: "a^@b^?c"},
		"C1 CSI":          {in: "x\u009b2J", want: `x\u009b2J`},
		"bidi override":   {in: "txt\u202eexe.pdf", want: `txt\u202eexe.pdf`},
		"not UTF-8":       {in: "a\xffb", want: `a\xffb`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, Escape(tc.in))
		})
	}
}

func TestPrintTableCutsLongCells(t *testing.T) {
	long := "start " + strings.Repeat("é", 100*1024) + " end"
	var buf bytes.Buffer
	require.NoError(t, PrintTable(&buf, []string{"ID", "COMMENT"}, [][]string{{"a", long}, {"b", "\x1b[2Jshort"}}))
	assert.Equal(t, "ID    COMMENT\na     start "+strings.Repeat("é", 60)+"…"+strings.Repeat("é", 29)+" end\nb     ^[[2Jshort\n", buf.String())

	buf.Reset()
	require.NoError(t, PrintTable(TableOptions{Wide: true}.Writer(&buf), []string{"ID", "COMMENT"}, [][]string{{"a", long}}))
	assert.True(t, buf.String() == "ID    COMMENT\na     "+long+"\n", "wide shows the whole cell")
}

// YAML keeps every character of a string, also those a YAML reader refuses raw.
func TestPrintYAMLKeepsControlCharacters(t *testing.T) {
	in := map[string]string{"comment": "esc \x1b bell \x07 del \x7f csi \u009b nel \u0085 rtl \u202e"}
	var buf bytes.Buffer
	require.NoError(t, PrintYAML(&buf, in))
	var back map[string]string
	require.NoError(t, yaml.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, in, back)
}

func TestCount(t *testing.T) {
	for want, got := range map[string]string{
		"1 ready endpoint":  Count(1, "ready endpoint"),
		"0 ready endpoints": Count(0, "ready endpoint"),
		"2 warnings":        Count(2, "warning"),
		"1 warning":         Count(1, "warning"),
		"3 retries":         Count(3, "retry"),
		"2 days":            Count(2, "day"),
		"2 matches":         Count(2, "match"),
		"4 ExternalSecrets": Count(4, "ExternalSecret"),
	} {
		assert.Equal(t, want, got)
	}
	assert.Equal(t, "is", Are(1))
	assert.Equal(t, "are", Are(2))
}

func TestErrorText(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"repeated context": {in: "list Prometheus targets: list Prometheus targets: Get \"http://x/\": EOF", want: "list Prometheus targets: Get \"http://x/\": EOF"},
		"canceled":         {in: "wait for the firing notification: context canceled", want: "wait for the firing notification: interrupted"},
		"deadline":         {in: "get silences: context deadline exceeded", want: "get silences: timed out"},
		"escaped":          {in: "body \x1b[2J", want: "body ^[[2J"},
		"distinct parts":   {in: "a: b: a", want: "a: b: a"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, ErrorText(errors.New(tc.in)))
		})
	}
}
