package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// tree is an order-preserving JSON value. Definitions go through it so that
// member order survives (parameter schemas are shown in schema order) and so
// that duplicate and unknown members can be reported with their location,
// which encoding/json cannot do.
type tree struct {
	kind tkind
	str  string // string value or number literal
	b    bool
	keys []string // object members, in document order
	vals []*tree
	elem []*tree // array items
}

type tkind uint8

const (
	tNull tkind = iota
	tBool
	tNumber
	tString
	tArray
	tObject
)

func (k tkind) String() string {
	switch k {
	case tBool:
		return "a boolean"
	case tNumber:
		return "a number"
	case tString:
		return "a string"
	case tArray:
		return "an array"
	case tObject:
		return "an object"
	}
	return "null"
}

// get returns the member named key, or nil.
func (t *tree) get(key string) *tree {
	if t == nil || t.kind != tObject {
		return nil
	}
	for i, k := range t.keys {
		if k == key {
			return t.vals[i]
		}
	}
	return nil
}

// keySet detects duplicate member names while an object is being built:
// a linear scan for small objects, a map once they grow, so that huge
// objects stay linear.
type keySet struct{ m map[string]struct{} }

// has reports whether t already has key; when not, the caller appends it,
// so has records it.
func (s *keySet) has(t *tree, key string) bool {
	if s.m == nil && len(t.keys) < 16 {
		for _, k := range t.keys {
			if k == key {
				return true
			}
		}
		return false
	}
	if s.m == nil {
		s.m = make(map[string]struct{}, 2*len(t.keys))
		for _, k := range t.keys {
			s.m[k] = struct{}{}
		}
	}
	if _, ok := s.m[key]; ok {
		return true
	}
	s.m[key] = struct{}{}
	return false
}

// maxTreeNodes bounds the size of a definition after YAML alias expansion,
// so that a small document cannot expand into a huge one.
const maxTreeNodes = 2_000_000

// maxTreeDepth bounds nesting, so that recursion stays shallow.
const maxTreeDepth = 256

// treeBuilder records duplicate members (and other structural faults) as
// problems with their location while building a tree.
type treeBuilder struct {
	problems []Problem
	nodes    int
}

func (b *treeBuilder) problem(path, format string, args ...any) {
	b.problems = append(b.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// jsonTree decodes one JSON document into a tree. A syntax error is returned
// as an error; duplicate members are recorded as problems (the later value
// is dropped).
func (b *treeBuilder) jsonTree(data []byte, base string) (*tree, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := b.jsonValue(dec, base, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return t, nil
}

func (b *treeBuilder) jsonValue(dec *json.Decoder, path string, depth int) (*tree, error) {
	if depth > maxTreeDepth {
		return nil, errors.New("nesting too deep")
	}
	b.nodes++
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case nil:
		return &tree{kind: tNull}, nil
	case bool:
		return &tree{kind: tBool, b: v}, nil
	case json.Number:
		return &tree{kind: tNumber, str: v.String()}, nil
	case string:
		return &tree{kind: tString, str: v}, nil
	case json.Delim:
		switch v {
		case '{':
			t := &tree{kind: tObject}
			var seen keySet
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key := kt.(string)
				child, err := b.jsonValue(dec, joinPath(path, key), depth+1)
				if err != nil {
					return nil, err
				}
				if seen.has(t, key) {
					b.problem(joinPath(path, key), "duplicate member %q", key)
					continue
				}
				t.keys = append(t.keys, key)
				t.vals = append(t.vals, child)
			}
			_, err := dec.Token() // '}'
			return t, err
		case '[':
			t := &tree{kind: tArray}
			for dec.More() {
				child, err := b.jsonValue(dec, indexPath(path, len(t.elem)), depth+1)
				if err != nil {
					return nil, err
				}
				t.elem = append(t.elem, child)
			}
			_, err := dec.Token() // ']'
			return t, err
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// yamlTree converts one YAML document into a tree through yaml.Node, which
// keeps mapping order. Only the JSON-compatible subset is accepted: no merge
// keys, no non-scalar keys, no infinities or NaN.
func (b *treeBuilder) yamlTree(data []byte) (*tree, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("more than one YAML document")
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) != 1 {
			return nil, errors.New("empty document")
		}
		n = n.Content[0]
	}
	return b.yamlValue(n, "", 0)
}

func (b *treeBuilder) yamlValue(n *yaml.Node, path string, depth int) (*tree, error) {
	if depth > maxTreeDepth {
		return nil, errors.New("nesting too deep")
	}
	b.nodes++
	if b.nodes > maxTreeNodes {
		return nil, errors.New("document too large after alias expansion")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return b.yamlValue(n.Alias, path, depth+1)
	case yaml.MappingNode:
		t := &tree{kind: tObject}
		var seen keySet
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: merge keys (<<) are not supported", k.Line)
			}
			key := k.Value
			child, err := b.yamlValue(v, joinPath(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			if seen.has(t, key) {
				b.problem(joinPath(path, key), "duplicate member %q (line %d)", key, k.Line)
				continue
			}
			t.keys = append(t.keys, key)
			t.vals = append(t.vals, child)
		}
		return t, nil
	case yaml.SequenceNode:
		t := &tree{kind: tArray, elem: make([]*tree, 0, len(n.Content))}
		for i, c := range n.Content {
			child, err := b.yamlValue(c, indexPath(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			t.elem = append(t.elem, child)
		}
		return t, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return &tree{kind: tNull}, nil
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return &tree{kind: tBool, b: v}, nil
		case "!!int":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			switch x := v.(type) {
			case int:
				return &tree{kind: tNumber, str: strconv.Itoa(x)}, nil
			case int64:
				return &tree{kind: tNumber, str: strconv.FormatInt(x, 10)}, nil
			case uint64:
				return &tree{kind: tNumber, str: strconv.FormatUint(x, 10)}, nil
			case float64:
				return floatTree(x, n.Line)
			}
			return nil, fmt.Errorf("line %d: unsupported integer %q", n.Line, n.Value)
		case "!!float":
			var v float64
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return floatTree(v, n.Line)
		case "!!str":
			return &tree{kind: tString, str: n.Value}, nil
		case "!!binary", "!!timestamp":
			// Timestamps stay text: a definition has no date members,
			// and JSON has no date type.
			return &tree{kind: tString, str: n.Value}, nil
		}
		return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.ShortTag())
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func floatTree(f float64, line int) (*tree, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("line %d: infinity and NaN are not JSON numbers", line)
	}
	return &tree{kind: tNumber, str: strconv.FormatFloat(f, 'g', -1, 64)}, nil
}

// appendJSON serializes t compactly, keeping member order.
func (t *tree) appendJSON(dst []byte) []byte {
	switch t.kind {
	case tNull:
		return append(dst, "null"...)
	case tBool:
		return strconv.AppendBool(dst, t.b)
	case tNumber:
		return append(dst, t.str...)
	case tString:
		return appendJSONString(dst, t.str)
	case tArray:
		dst = append(dst, '[')
		for i, e := range t.elem {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.appendJSON(dst)
		}
		return append(dst, ']')
	case tObject:
		dst = append(dst, '{')
		for i, k := range t.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = t.vals[i].appendJSON(dst)
		}
		return append(dst, '}')
	}
	return dst
}

// appendJSONString appends s as a JSON string without HTML escaping.
// Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// joinPath appends a member name to a problem path (dot notation; names
// that are not simple identifiers are quoted in brackets).
func joinPath(path, key string) string {
	simple := key != ""
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$') {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// looksLikeJSON reports whether data starts (after white space and a BOM)
// with '{', so that JSON documents get the exact JSON decoder.
func looksLikeJSON(data []byte) bool {
	s := strings.TrimLeft(string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))), " \t\r\n")
	return strings.HasPrefix(s, "{")
}
