package output

import "strings"

// goInternals are texts of Go's own errors that reach a message through wrapping, in
// the words an operator reads them in.
var goInternals = strings.NewReplacer(
	"context canceled", "interrupted",
	"context deadline exceeded", "timed out",
)

// ErrorText is ErrorMessage escaped for the terminal.
func ErrorText(err error) string {
	return Escape(ErrorMessage(err))
}

// ErrorMessage is the message of err for a person: each layer's context said once (a
// part repeated right after itself, "list targets: list targets: ...", is dropped)
// and Go's context errors in words. It is not escaped: -o json and yaml error
// documents carry it verbatim.
func ErrorMessage(err error) string {
	parts := strings.Split(goInternals.Replace(err.Error()), ": ")
	kept := parts[:0]
	for i, p := range parts {
		if i > 0 && p == parts[i-1] {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, ": ")
}
