// Package output prints what commands return in the formats kubectl users expect.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Formats every command may offer besides its own text or table form.
const (
	JSON = "json"
	YAML = "yaml"
)

// Names of a command's own form, its default format: a listing's table, or the
// text of a command that reports one thing.
const (
	Table = "table"
	Text  = "text"
	// Wide is a table with every cell in full (and any extra columns).
	Wide = "wide"
)

// ErrorDocument is what a command prints on stdout instead of its result when
// it fails and -o json or yaml was asked for.
type ErrorDocument struct {
	// Error is the message, as printed on stderr.
	Error string `json:"error"`
	// ExitCode is the code the process exits with.
	ExitCode int `json:"exitCode"`
}

// Validate returns a usage error unless format is one of allowed.
func Validate(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return exitcode.BadUsage(fmt.Errorf("unsupported output format %q: use one of %s", format, strings.Join(allowed, ", ")))
}

// PrintJSON writes v as indented JSON followed by a newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// PrintYAML writes v as YAML, through its JSON form so field names match -o json.
// Strings keep every character: those a YAML reader refuses or folds raw (DEL, C1 controls,
// U+FFFE/U+FFFF; JSON writes them raw) are escaped in the JSON first, so the YAML
// holds them as escapes in double quotes instead of failing.
func PrintYAML(w io.Writer, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b, err := yaml.JSONToYAML(escapeForYAML(js))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// escapeForYAML writes the runes YAML does not allow raw (YAML 1.2 c-printable)
// as JSON \uXXXX escapes; they only occur inside JSON strings, so the value is the same.
func escapeForYAML(js []byte) []byte {
	if !bytes.ContainsFunc(js, yamlUnprintable) {
		return js
	}
	var out bytes.Buffer
	for _, r := range string(js) {
		if yamlUnprintable(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes()
}

func yamlUnprintable(r rune) bool {
	return (r >= 0x7f && r <= 0x9f) || r == 0xfffe || r == 0xffff
}

// Print writes v as JSON or YAML according to format.
func Print(w io.Writer, format string, v any) error {
	switch format {
	case JSON:
		return PrintJSON(w, v)
	case YAML:
		return PrintYAML(w, v)
	}
	return exitcode.BadUsage(fmt.Errorf("unsupported output format %q", format))
}
