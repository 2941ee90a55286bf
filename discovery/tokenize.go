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
	buf, ends := tokenize(nil, nil, s, camel)
	str := string(buf)
	start := 0
	for _, e := range ends {
		dst = append(dst, str[start:e])
		start = e
	}
	return dst
}

// tokenize is appendTokens without allocations of its own: it appends the
// normalized tokens' bytes to buf and each token's end offset in buf to
// ends, so that one string conversion of buf yields every token.
func tokenize(buf []byte, ends []int, s string, camel bool) ([]byte, []int) {
	start := len(buf)
	flush := func() {
		if n := normalize(buf[start:]); n > 0 {
			buf = buf[:start+n]
			ends = append(ends, len(buf))
		} else {
			buf = buf[:start]
		}
		start = len(buf)
	}
	var prev rune
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if camel && unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && startsWord(s[i:])) {
			flush()
		}
		prev = r
		if r < utf8.RuneSelf {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
		} else {
			r = unicode.ToLower(r)
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			buf = append(buf, byte(r))
		} else {
			flush()
		}
	}
	flush()
	return buf, ends
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
// returns its new length, 0 if it is dropped.
func normalize(tok []byte) int {
	if len(tok) < 2 || isStopWord(tok) {
		return 0
	}
	if len(tok) > 3 && tok[len(tok)-1] == 's' {
		return len(tok) - 1
	}
	return len(tok)
}

func isStopWord(tok []byte) bool {
	switch string(tok) { // no allocation: the conversion is only compared
	case "a", "an", "and", "the", "to", "of", "for", "in", "on", "with", "from", "by", "my", "me", "all", "new", "get", "set":
		return true
	}
	return false
}
