package output

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape makes text that came from a server (a silence comment, a label, an error
// body, a log line) safe to print on a terminal: it can no longer set colours, the
// window title, move the cursor or ring the bell. kubectl escapes ESC as ^[ and CR
// as \r (cli-runtime printers.EscapeTerminal, kubernetes issue 101695); Escape does
// the same and also writes the other C0 controls and DEL in caret notation (BEL as
// ^G), C1 controls (U+0080-U+009F, which some terminals read as ESC sequences) and
// the bidirectional overrides (which reorder what is shown) as \uXXXX, and bytes
// that are not UTF-8 as \xNN. Line feeds and tabs stay: callers that need one line
// (table cells) turn them into spaces first. JSON and YAML output stay verbatim.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			// a non-ASCII byte: look closer (letters such as ä stay as they are)
			return c < 0x80 || slowNeedsEscape(s[i:])
		}
	}
	return false
}

func slowNeedsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune reports C1 controls and the bidirectional embeddings, overrides and
// isolates (U+202A-U+202E, U+2066-U+2069).
func unsafeRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
