package shape

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of §10.3 and the sample cut of §10.2.
const (
	MaxStringBytes    = 5120 // longer strings are cut and end in "…"
	MaxDepth          = 10   // objects and arrays deeper than this are replaced
	MaxArrayItems     = 1000 // longer arrays are cut
	SampleStringBytes = 200  // string cut inside refinement samples
	ellipsis          = "…"
	depthMarker       = `"[max depth reached]"`
)

// writer appends the limited, compact form of values of src to out.
type writer struct {
	src []byte
	out []byte
}

// value writes the valid value at src[i] with the §10.3 limits and returns
// the offset after it. depth is the value's depth in the output (root 1);
// strings longer than strMax bytes are cut; the object member whose value
// starts at offset drop is left out (-1 drops nothing).
func (w *writer) value(i, depth, strMax, drop int) int {
	switch c := w.src[i]; {
	case (c == '{' || c == '[') && depth > MaxDepth:
		w.out = append(w.out, depthMarker...)
		return next(w.src, i)
	case c == '{':
		return w.object(i, depth, strMax, drop)
	case c == '[':
		return w.array(i, MaxArrayItems, depth, strMax, drop)
	case c == '"':
		return w.str(i, strMax)
	}
	j := i + 1
	for j < len(w.src) && !isDelim(w.src[j]) {
		j++
	}
	w.out = append(w.out, w.src[i:j]...)
	return j
}

func isDelim(c byte) bool { return c == ',' || c == '}' || c == ']' || isSpace(c) }

func (w *writer) object(i, depth, strMax, drop int) int {
	src := w.src
	w.out = append(w.out, '{')
	first := true
	j := ws(src, i+1)
	for src[j] != '}' {
		keyStart := j
		keyEnd, _, _ := skipString(src, j)
		v := ws(src, ws(src, keyEnd)+1)
		if v == drop {
			j = next(src, v)
		} else {
			if !first {
				w.out = append(w.out, ',')
			}
			first = false
			w.str(keyStart, strMax)
			w.out = append(w.out, ':')
			j = w.value(v, depth+1, strMax, drop)
		}
		if j = ws(src, j); src[j] == ',' {
			j = ws(src, j+1)
		}
	}
	w.out = append(w.out, '}')
	return j + 1
}

// array writes at most limit elements of the array at src[i].
func (w *writer) array(i, limit, depth, strMax, drop int) int {
	src := w.src
	w.out = append(w.out, '[')
	n := 0
	j := ws(src, i+1)
	for src[j] != ']' {
		if n < limit {
			if n > 0 {
				w.out = append(w.out, ',')
			}
			j = w.value(j, depth+1, strMax, drop)
		} else {
			j = next(src, j)
		}
		n++
		if j = ws(src, j); src[j] == ',' {
			j = ws(src, j+1)
		}
	}
	w.out = append(w.out, ']')
	return j + 1
}

// str writes the string at src[i], re-encoded as encoding/json would encode
// its decoded value (no HTML escaping) and cut to max bytes of decoded text.
func (w *writer) str(i, max int) int {
	end, plain, _ := skipString(w.src, i)
	raw := w.src[i+1 : end-1]
	if !plain && !hasBackslash(raw) && utf8.Valid(raw) && !hasLineSeparator(raw) {
		plain = true // non-ASCII text that encodes as itself
	}
	if plain {
		if len(raw) <= max {
			w.out = append(w.out, w.src[i:end]...)
			return end
		}
		k := max
		for k > 0 && raw[k]&0xc0 == 0x80 {
			k-- // back up to the start of the rune that straddles the cut
		}
		w.out = append(w.out, '"')
		w.out = append(w.out, raw[:k]...)
		w.out = append(w.out, ellipsis+`"`...)
		return end
	}
	w.out = appendDecoded(w.out, raw, max)
	return end
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// hasLineSeparator reports U+2028 or U+2029, which encoding/json escapes.
func hasLineSeparator(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xe2 && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9) {
			return true
		}
	}
	return false
}

// appendDecoded writes the JSON string whose raw content (escapes and all) is
// raw, decoding and re-encoding it, cut to max decoded bytes.
func appendDecoded(out, raw []byte, max int) []byte {
	total := 0
	for i := 0; i < len(raw); {
		var r rune
		r, i = decodeRune(raw, i)
		total += utf8.RuneLen(r)
	}
	limit, cut := total, false
	if total > max {
		limit, cut = max, true
	}
	out = append(out, '"')
	n := 0
	for i := 0; i < len(raw); {
		r, j := decodeRune(raw, i)
		if n += utf8.RuneLen(r); n > limit {
			break
		}
		out = appendEscaped(out, r)
		i = j
	}
	if cut {
		out = append(out, ellipsis...)
	}
	return append(out, '"')
}

// appendText writes s as a JSON string cut to max bytes.
func appendText(out []byte, s string, max int) []byte {
	cut := false
	if len(s) > max {
		k := max
		for k > 0 && s[k]&0xc0 == 0x80 {
			k--
		}
		s, cut = s[:k], true
	}
	out = append(out, '"')
	out = appendEscapedString(out, s)
	if cut {
		out = append(out, ellipsis...)
	}
	return append(out, '"')
}

// appendEscapedString writes the characters of s escaped, without quotes;
// invalid bytes come out as U+FFFD.
func appendEscapedString(out []byte, s string) []byte {
	for _, r := range s {
		out = appendEscaped(out, r)
	}
	return out
}

// decodeRune decodes one character of raw JSON string content at raw[i], as
// encoding/json does: escapes are resolved, surrogate pairs combined, and a
// lone surrogate or an invalid UTF-8 byte becomes U+FFFD.
func decodeRune(raw []byte, i int) (rune, int) {
	c := raw[i]
	if c < utf8.RuneSelf && c != '\\' {
		return rune(c), i + 1
	}
	if c != '\\' {
		r, size := utf8.DecodeRune(raw[i:])
		return r, i + size
	}
	switch raw[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(raw[i+2:])
		if !utf16.IsSurrogate(r) {
			return r, i + 6
		}
		if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if dec := utf16.DecodeRune(r, hex4(raw[i+8:])); dec != utf8.RuneError {
				return dec, i + 12
			}
		}
		return utf8.RuneError, i + 6
	}
	return rune(raw[i+1]), i + 2 // \" \\ \/
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

const hexDigits = "0123456789abcdef"

// appendEscaped encodes one character like encoding/json with
// SetEscapeHTML(false).
func appendEscaped(out []byte, r rune) []byte {
	if r >= utf8.RuneSelf {
		if r == '\u2028' || r == '\u2029' {
			return append(out, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		}
		return utf8.AppendRune(out, r)
	}
	c := byte(r)
	switch {
	case c >= 0x20 && c != '"' && c != '\\':
		return append(out, c)
	case c == '"' || c == '\\':
		return append(out, '\\', c)
	case c == '\b':
		return append(out, '\\', 'b')
	case c == '\f':
		return append(out, '\\', 'f')
	case c == '\n':
		return append(out, '\\', 'n')
	case c == '\r':
		return append(out, '\\', 'r')
	case c == '\t':
		return append(out, '\\', 't')
	}
	return append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// escapedLen is len(appendEscaped(nil, r)).
func escapedLen(r rune) int {
	switch {
	case r == '\u2028' || r == '\u2029':
		return 6
	case r >= utf8.RuneSelf:
		return utf8.RuneLen(r)
	case r >= 0x20 && r != '"' && r != '\\':
		return 1
	case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
		return 2
	}
	return 6
}
