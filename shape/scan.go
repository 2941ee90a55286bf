package shape

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalidJSON is wrapped by Shape when its input is not one JSON value.
var ErrInvalidJSON = errors.New("invalid JSON")

func syntaxError(at int) error { return fmt.Errorf("%w at offset %d", ErrInvalidJSON, at) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func ws(src []byte, i int) int {
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	return i
}

// validate checks that src is exactly one JSON value surrounded by optional
// whitespace and returns the offsets of that value; start == end when src is
// empty or only whitespace.
func validate(src []byte) (start, end int, err error) {
	start = ws(src, 0)
	if start == len(src) {
		return start, start, nil
	}
	end, err = skip(src, start)
	if err != nil {
		return 0, 0, err
	}
	if ws(src, end) != len(src) {
		return 0, 0, syntaxError(end)
	}
	return start, end, nil
}

// skip validates the value at src[i] and returns the offset just after it. It
// is iterative, so hostile nesting cannot exhaust the goroutine stack.
func skip(src []byte, i int) (int, error) {
	var buf [32]byte
	stack := buf[:0] // '{' or '[' per open container
	var err error
	for {
		// A value starts at i.
		if i >= len(src) {
			return 0, syntaxError(i)
		}
		closed := true
		switch src[i] {
		case '{':
			if i = ws(src, i+1); i < len(src) && src[i] == '}' {
				i++
				break
			}
			stack = append(stack, '{')
			if i, err = memberKey(src, i); err != nil {
				return 0, err
			}
			closed = false
		case '[':
			if i = ws(src, i+1); i < len(src) && src[i] == ']' {
				i++
				break
			}
			stack = append(stack, '[')
			closed = false
		case '"':
			if i, _, err = skipString(src, i); err != nil {
				return 0, err
			}
		case 't':
			i, err = literal(src, i, "true")
		case 'f':
			i, err = literal(src, i, "false")
		case 'n':
			i, err = literal(src, i, "null")
		default:
			i, err = skipNumber(src, i)
		}
		if err != nil {
			return 0, err
		}
		if !closed {
			continue
		}
		// A value ended at i: close containers until a comma asks for the
		// next value or the outermost value is complete.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			if i = ws(src, i); i >= len(src) {
				return 0, syntaxError(i)
			}
			top := stack[len(stack)-1]
			c := src[i]
			if c == ',' {
				i = ws(src, i+1)
				if top == '{' {
					if i, err = memberKey(src, i); err != nil {
						return 0, err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return 0, syntaxError(i)
		}
	}
}

// memberKey validates `"key" :` at src[i] and returns the offset of the value.
func memberKey(src []byte, i int) (int, error) {
	if i >= len(src) || src[i] != '"' {
		return 0, syntaxError(i)
	}
	i, _, err := skipString(src, i)
	if err != nil {
		return 0, err
	}
	if i = ws(src, i); i >= len(src) || src[i] != ':' {
		return 0, syntaxError(i)
	}
	return ws(src, i+1), nil
}

// skipString validates the string at src[i] (the opening quote) and returns
// the offset after its closing quote. plain reports that its content has no
// escapes and is ASCII, so it can be copied as it is.
func skipString(src []byte, i int) (end int, plain bool, err error) {
	plain = true
	j := i + 1
	for {
		for j+8 <= len(src) && !special8(binary.LittleEndian.Uint64(src[j:])) {
			j += 8
		}
		if j >= len(src) {
			return 0, false, syntaxError(len(src))
		}
		switch c := src[j]; {
		case c == '"':
			return j + 1, plain, nil
		case c < 0x20:
			return 0, false, syntaxError(j)
		case c == '\\':
			plain = false
			if j+1 >= len(src) {
				return 0, false, syntaxError(j)
			}
			switch src[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+5 >= len(src) || !isHex(src[j+2]) || !isHex(src[j+3]) || !isHex(src[j+4]) || !isHex(src[j+5]) {
					return 0, false, syntaxError(j)
				}
				j += 6
			default:
				return 0, false, syntaxError(j)
			}
		case c >= 0x80:
			plain = false
			j++
		default:
			j++
		}
	}
}

// special8 reports whether any of the 8 bytes in x needs a closer look inside
// a string: a control byte, a byte >= 0x80, '"' or '\\' (the "has less" and
// "has zero" tricks of Bit Twiddling Hacks; exact for "any byte").
func special8(x uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	less20 := (x - 0x20*ones) &^ x
	quote := x ^ '"'*ones
	backslash := x ^ '\\'*ones
	return (x|less20|(quote-ones)&^quote|(backslash-ones)&^backslash)&high != 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func literal(src []byte, i int, lit string) (int, error) {
	if len(src)-i < len(lit) || string(src[i:i+len(lit)]) != lit {
		return 0, syntaxError(i)
	}
	return i + len(lit), nil
}

// skipNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(src []byte, i int) (int, error) {
	start := i
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	default:
		return 0, syntaxError(start)
	}
	if i < len(src) && src[i] == '.' {
		i++
		if i >= len(src) || !isDigit(src[i]) {
			return 0, syntaxError(i)
		}
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i >= len(src) || !isDigit(src[i]) {
			return 0, syntaxError(i)
		}
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	return i, nil
}

// The helpers below walk input that validate has accepted, so they do not
// check syntax again.

// next returns the offset after the valid value at src[i].
func next(src []byte, i int) int {
	end, _ := skip(src, i)
	return end
}

// lookup follows a dot-separated path of object keys from the value at
// src[i] and returns the offset of the value it names. A key that occurs
// more than once resolves to its last occurrence, as in encoding/json.
func lookup(src []byte, i int, path string) (int, bool) {
	for {
		seg, rest, more := cut(path, '.')
		if src[i] != '{' {
			return 0, false
		}
		found := -1
		j := ws(src, i+1)
		for src[j] != '}' {
			keyEnd, _, _ := skipString(src, j)
			if keyEquals(src[j+1:keyEnd-1], seg) {
				found = ws(src, ws(src, keyEnd)+1)
			}
			j = ws(src, next(src, ws(src, ws(src, keyEnd)+1)))
			if src[j] == ',' {
				j = ws(src, j+1)
			}
		}
		if found < 0 {
			return 0, false
		}
		if !more {
			return found, true
		}
		i, path = found, rest
	}
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// keyEquals compares the raw content of a JSON string with a decoded key.
func keyEquals(raw []byte, key string) bool {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw) == key
	}
	k := 0
	for i := 0; i < len(raw); {
		r, n := decodeRune(raw, i)
		i = n
		var buf [4]byte
		enc := utf8.AppendRune(buf[:0], r)
		if len(key)-k < len(enc) || string(enc) != key[k:k+len(enc)] {
			return false
		}
		k += len(enc)
	}
	return k == len(key)
}

// count returns the number of elements of the array at src[i].
func count(src []byte, i int) int {
	n := 0
	j := ws(src, i+1)
	for src[j] != ']' {
		n++
		j = ws(src, next(src, j))
		if src[j] == ',' {
			j = ws(src, j+1)
		}
	}
	return n
}
