package discovery

import (
	"unicode"
	"unicode/utf8"
)

// appendTokens appends the tokens of s to dst following §7.8 step 1:
// lower-case; split on every character outside [a-z0-9]; with camel (for
// indexed fields, not for the goal) also split on camelCase boundaries, which
// must be found before lower-casing erases them; drop tokens shorter than two
// characters and stop words; strip one trailing "s" from tokens longer than
// three characters. Stop words are dropped before the "s" is stripped, in the
// contract's order, so "sets" becomes "set" and is kept on both sides.
//
// Lower-casing is Unicode's simple per-rune mapping, so a rune that folds
// into [a-z] (the Kelvin sign) joins a token and every other non-ASCII rune
// separates tokens.
func appendTokens(dst []string, s string, camel bool) []string {
	var buf [64]byte
	tok := buf[:0]
	flush := func() {
		if t := normalize(tok); t != "" {
			dst = append(dst, t)
		}
		tok = tok[:0]
	}
	var prev rune
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if camel && unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && startsWord(s[i:])) {
			flush()
		}
		prev = r
		if l := unicode.ToLower(r); l >= 'a' && l <= 'z' || l >= '0' && l <= '9' {
			tok = append(tok, byte(l))
		} else {
			flush()
		}
	}
	flush()
	return dst
}

// startsWord reports whether the capital just before rest starts a word
// after an acronym (HTTPServer: the S), judged by the lower-case letter
// after it. A plural "s" that ends the acronym is not a word: listIDs,
// getURLsFor.
func startsWord(rest string) bool {
	next, size := utf8.DecodeRuneInString(rest)
	if !unicode.IsLower(next) {
		return false
	}
	if next != 's' {
		return true
	}
	after, _ := utf8.DecodeRuneInString(rest[size:])
	return unicode.IsLower(after)
}

// normalize applies the drop and strip rules to one lower-case token and
// returns it as a string, or "" if it is dropped.
func normalize(tok []byte) string {
	if len(tok) < 2 || isStopWord(tok) {
		return ""
	}
	if len(tok) > 3 && tok[len(tok)-1] == 's' {
		tok = tok[:len(tok)-1]
	}
	return string(tok)
}

func isStopWord(tok []byte) bool {
	switch string(tok) { // no allocation: the conversion is only compared
	case "a", "an", "and", "the", "to", "of", "for", "in", "on", "with", "from", "by", "my", "me", "all", "new", "get", "set":
		return true
	}
	return false
}
