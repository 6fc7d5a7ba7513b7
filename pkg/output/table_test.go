package output

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
