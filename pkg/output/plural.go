package output

import (
	"strconv"
	"strings"
)

// Count writes n and noun, the noun plural unless n is 1: Count(1, "ready endpoint")
// is "1 ready endpoint", Count(3, "ready endpoint") "3 ready endpoints". Only the last
// word changes; words ending in s, x, ch or sh take "es", a consonant and y "ies".
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Plural(n, noun)
}

// Plural is noun, made plural unless n is 1 (see Count).
func Plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	switch {
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return noun + "es"
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsAny(noun[len(noun)-2:len(noun)-1], "aeiou"):
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}

// Are is "is" when n is 1, else "are".
func Are(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
