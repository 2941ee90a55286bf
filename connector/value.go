package connector

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on tool arguments (§7, §17.4).
const (
	maxArrayItems = 10000
	maxValueDepth = 512
)

// valueError is a structural fault of an argument document, located by a
// JSON pointer.
type valueError struct {
	path string
	msg  string
}

// rootMember is one top-level member of the arguments, with its raw JSON.
type rootMember struct {
	key string
	raw []byte
	val any
}

// valueParser decodes JSON into the generic form the JSON Schema validator
// takes (map[string]any, []any, json.Number, string, bool, nil) in one pass,
// refusing duplicate member names and over-long arrays on the way, and
// remembering the raw bytes of each top-level member so that bodies can be
// written without re-encoding.
type valueParser struct {
	data  []byte
	pos   int
	stack []pathTok // current location, for error paths
	err   *valueError
	depth int
}

type pathTok struct {
	key   string
	index int
	isIdx bool
}

func (p *valueParser) pointer() string {
	var sb strings.Builder
	for _, t := range p.stack {
		sb.WriteByte('/')
		if t.isIdx {
			sb.WriteString(strconv.Itoa(t.index))
		} else {
			sb.WriteString(escapePointer(t.key))
		}
	}
	return sb.String()
}

func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (p *valueParser) fail(msg string) {
	if p.err == nil {
		p.err = &valueError{path: p.pointer(), msg: msg}
	}
}

// parseRoot parses a whole document. With members set, a top-level object's
// members are also returned in input order with their raw bytes.
func parseRoot(data []byte, members bool) (any, []rootMember, *valueError) {
	p := valueParser{data: data}
	p.skipSpace()
	var v any
	var ms []rootMember
	if members && p.pos < len(p.data) && p.data[p.pos] == '{' {
		v, ms = p.rootObject()
	} else {
		v = p.value()
	}
	if p.err == nil {
		p.skipSpace()
		if p.pos != len(p.data) {
			p.fail("invalid JSON: trailing data")
		}
	}
	if p.err != nil {
		return nil, nil, p.err
	}
	return v, ms, nil
}

func (p *valueParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *valueParser) rootObject() (map[string]any, []rootMember) {
	p.pos++ // '{'
	obj := make(map[string]any, 8)
	var ms []rootMember
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, ms
	}
	for p.err == nil {
		p.skipSpace()
		key, ok := p.key()
		if !ok {
			return nil, nil
		}
		p.stack = append(p.stack, pathTok{key: key})
		if _, dup := obj[key]; dup {
			p.fail("duplicate member name")
			return nil, nil
		}
		p.skipSpace()
		start := p.pos
		val := p.value()
		if p.err != nil {
			return nil, nil
		}
		obj[key] = val
		ms = append(ms, rootMember{key: key, raw: p.data[start:p.pos], val: val})
		p.stack = p.stack[:len(p.stack)-1]
		if !p.next('}') {
			return nil, nil
		}
		if p.data[p.pos-1] == '}' {
			return obj, ms
		}
	}
	return nil, nil
}

// key reads a member name and the colon after it.
func (p *valueParser) key() (string, bool) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		p.fail("invalid JSON: expected a member name")
		return "", false
	}
	k, ok := p.str()
	if !ok {
		return "", false
	}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		p.fail("invalid JSON: expected ':'")
		return "", false
	}
	p.pos++
	return k, true
}

// next consumes ',' or the closing delimiter.
func (p *valueParser) next(closing byte) bool {
	p.skipSpace()
	if p.pos >= len(p.data) {
		p.fail("invalid JSON: unexpected end")
		return false
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return true
	case closing:
		p.pos++
		return true
	}
	p.fail("invalid JSON: expected ',' or '" + string(closing) + "'")
	return false
}

func (p *valueParser) value() any {
	if p.err != nil {
		return nil
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		p.fail("invalid JSON: unexpected end")
		return nil
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, _ := p.str()
		return s
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	p.fail("invalid JSON: unexpected character")
	return nil
}

func (p *valueParser) literal(lit string, v any) any {
	if len(p.data)-p.pos >= len(lit) && string(p.data[p.pos:p.pos+len(lit)]) == lit {
		p.pos += len(lit)
		return v
	}
	p.fail("invalid JSON: bad literal")
	return nil
}

func (p *valueParser) object() any {
	p.depth++
	if p.depth > maxValueDepth {
		p.fail("nesting too deep")
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // '{'
	obj := make(map[string]any)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj
	}
	for p.err == nil {
		p.skipSpace()
		key, ok := p.key()
		if !ok {
			return nil
		}
		p.stack = append(p.stack, pathTok{key: key})
		if _, dup := obj[key]; dup {
			p.fail("duplicate member name")
			return nil
		}
		v := p.value()
		if p.err != nil {
			return nil
		}
		obj[key] = v
		p.stack = p.stack[:len(p.stack)-1]
		if !p.next('}') {
			return nil
		}
		if p.data[p.pos-1] == '}' {
			return obj
		}
	}
	return nil
}

func (p *valueParser) array() any {
	p.depth++
	if p.depth > maxValueDepth {
		p.fail("nesting too deep")
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // '['
	arr := make([]any, 0, 4)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr
	}
	for p.err == nil {
		if len(arr) == maxArrayItems {
			p.fail("array has more than 10000 items")
			return nil
		}
		p.stack = append(p.stack, pathTok{index: len(arr), isIdx: true})
		v := p.value()
		if p.err != nil {
			return nil
		}
		arr = append(arr, v)
		p.stack = p.stack[:len(p.stack)-1]
		if !p.next(']') {
			return nil
		}
		if p.data[p.pos-1] == ']' {
			return arr
		}
	}
	return nil
}

// str reads a string. Strings without escapes and with valid UTF-8 are
// sliced directly; the rest go through encoding/json, which is exact.
func (p *valueParser) str() (string, bool) {
	start := p.pos
	p.pos++ // '"'
	simple := true
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			raw := p.data[start+1 : p.pos-1]
			if simple && utf8.Valid(raw) {
				return string(raw), true
			}
			var s string
			if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
				p.fail("invalid JSON: bad string")
				return "", false
			}
			return s, true
		case c == '\\':
			simple = false
			p.pos += 2
		case c < 0x20:
			p.fail("invalid JSON: control character in string")
			return "", false
		default:
			p.pos++
		}
	}
	p.fail("invalid JSON: unterminated string")
	return "", false
}

// number reads a number with the exact JSON grammar and keeps its text.
func (p *valueParser) number() any {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		p.fail("invalid JSON: bad number")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.fail("invalid JSON: bad number")
			return nil
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.fail("invalid JSON: bad number")
			return nil
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	return json.Number(d[start:i])
}
