package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
)

// Options bounds a document.
type Options struct {
	// MaxArray is the longest array allowed anywhere (0: no limit).
	MaxArray int
	// MaxDepth bounds nesting (0: 512).
	MaxDepth int
	// Unbounded lists top-level member names whose contents are exempt from
	// MaxArray (the openapi member of a connector import).
	Unbounded []string
}

// ErrorKind classifies a failed Check.
type ErrorKind int

// Kinds of Error.
const (
	KindSyntax    ErrorKind = iota + 1 // not one valid JSON value, or invalid UTF-8
	KindDuplicate                      // a member name appears twice in one object
	KindUnknown                        // a member the target type does not have
	KindArray                          // an array over MaxArray
	KindDepth                          // nesting over MaxDepth
)

// Error is a violation, with the dot path of the member concerned.
type Error struct {
	Kind ErrorKind
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Invalid converts e to the contract's INVALID_REQUEST error.
func (e *Error) Invalid() *patchbay.Error {
	pe := patchbay.Errorf(patchbay.EInvalid, "%s", e.Msg)
	if e.Path != "" {
		pe.Field(e.Path)
	}
	return pe
}

// Elem is implemented by wrapper types (Optional) whose JSON form is that of
// another type, so that member checks look through them.
type Elem interface{ StrictElem() reflect.Type }

var (
	rawType  = reflect.TypeFor[json.RawMessage]()
	elemType = reflect.TypeFor[Elem]()
)

// Check validates data as one JSON value without duplicate members, within
// opts. It checks no member names against a type.
func Check(data []byte, opts Options) error {
	return scan(data, nil, opts)
}

// Decode checks data against the JSON shape of v's type (unknown or
// case-variant members are errors) and then unmarshals it into v. Errors are
// *patchbay.Error values with code INVALID_REQUEST and details.field.
func Decode(data []byte, v any, opts Options) error {
	if err := scan(data, reflect.TypeOf(v), opts); err != nil {
		var se *Error
		if errors.As(err, &se) {
			return se.Invalid()
		}
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return unmarshalError(err, reflect.TypeOf(v))
	}
	return nil
}

func unmarshalError(err error, root reflect.Type) error {
	var pe *patchbay.Error
	if errors.As(err, &pe) {
		return pe
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := memberPath(root, te.Field)
		if field == "" {
			return patchbay.Errorf(patchbay.EInvalid, "request body must be a JSON %s", jsonKind(te.Type)).Wrap(err)
		}
		return patchbay.Errorf(patchbay.EInvalid, "%s must be %s", field, article(jsonKind(te.Type))).Field(field).Wrap(err)
	}
	return patchbay.Errorf(patchbay.EInvalid, "request body is not valid JSON").Wrap(err)
}

// memberPath turns the Field of a json.UnmarshalTypeError, which names the
// Go types of embedded structs as path elements ("serverFields.name"), into
// the member path a client sent ("name").
func memberPath(root reflect.Type, field string) string {
	if field == "" {
		return ""
	}
	var out []string
	t := shape(root)
	for _, seg := range strings.Split(field, ".") {
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		ft, embedded, ok := lookupMember(t, seg)
		switch {
		case !ok:
			out, t = append(out, seg), nil
		case embedded:
			t = shape(ft)
		default:
			out, t = append(out, seg), shape(ft)
		}
	}
	return strings.Join(out, ".")
}

// lookupMember finds seg among t's JSON members, or as the type name of an
// untagged embedded struct (embedded is then true).
func lookupMember(t reflect.Type, seg string) (ft reflect.Type, embedded, ok bool) {
	names := map[string]reflect.Type{}
	addFields(names, t)
	if ft, ok := names[seg]; ok {
		return ft, false, true
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.Anonymous || f.Tag.Get("json") != "" {
			continue
		}
		et := f.Type
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		if et.Name() == seg {
			return et, true, true
		}
	}
	return nil, false, false
}

func article(kind string) string {
	switch kind[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + kind
	}
	return "a " + kind
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(elemType) {
		return jsonKind(reflect.Zero(t).Interface().(Elem).StrictElem())
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "value"
}

type scanner struct {
	data  []byte
	i     int
	opts  Options
	depth int
	stack []frame
}

func scan(data []byte, t reflect.Type, opts Options) error {
	if opts.MaxDepth == 0 {
		opts.MaxDepth = 512
	}
	var stack [16]frame
	s := &scanner{data: data, opts: opts, stack: stack[:0]}
	s.skipWS()
	if err := s.value(t, opts.MaxArray); err != nil {
		return err
	}
	s.skipWS()
	if s.i != len(s.data) {
		return &Error{Kind: KindSyntax, Msg: "unexpected data after the JSON value"}
	}
	return nil
}

func (s *scanner) syntax() error {
	return &Error{Kind: KindSyntax, Msg: "request body is not valid JSON"}
}

func (s *scanner) skipWS() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// shape resolves t to the type whose members or elements matter: pointers
// and Elem wrappers are looked through; nil means anything goes.
func shape(t reflect.Type) reflect.Type {
	for t != nil {
		if t == rawType {
			return nil
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
			continue
		}
		if t.Implements(elemType) {
			t = reflect.Zero(t).Interface().(Elem).StrictElem()
			continue
		}
		if t.Kind() == reflect.Interface {
			return nil
		}
		return t
	}
	return nil
}

// frame is a member name or array index on the way down to a value. The
// scanner keeps them on a stack and renders the path only for an error.
type frame struct {
	name  []byte
	index int // -1 for a member
}

// path renders the stack as a dot path with [i] for array elements.
func (s *scanner) path() string {
	var b strings.Builder
	for _, f := range s.stack {
		if f.index >= 0 {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(f.name)
	}
	return b.String()
}

func (s *scanner) value(t reflect.Type, maxArray int) error {
	if s.i >= len(s.data) {
		return s.syntax()
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(shape(t), maxArray)
	case c == '[':
		return s.array(shape(t), maxArray)
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.syntax()
}

func (s *scanner) lit(l string) error {
	if len(s.data)-s.i < len(l) || string(s.data[s.i:s.i+len(l)]) != l {
		return s.syntax()
	}
	s.i += len(l)
	return nil
}

func (s *scanner) number() error {
	start := s.i
	if s.data[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.data) && s.data[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return s.syntax()
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.syntax()
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.syntax()
		}
	}
	if s.i == start {
		return s.syntax()
	}
	return nil
}

// str scans a string at s.i and returns its decoded value: a slice of the
// input when it has no escapes (no copy, no allocation), else a decoded copy.
func (s *scanner) str() ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	escaped := false
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			raw := s.data[start:s.i]
			s.i++
			if !escaped {
				if !utf8.Valid(raw) {
					return nil, s.syntax()
				}
				return raw, nil
			}
			u, err := unescape(raw)
			return []byte(u), err
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return nil, s.syntax()
		default:
			s.i++
		}
	}
	return nil, s.syntax()
}

func unescape(raw []byte) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	bad := &Error{Kind: KindSyntax, Msg: "request body is not valid JSON"}
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", bad
			}
			b.Write(raw[i : i+size])
			i += size
			continue
		}
		if i+1 >= len(raw) {
			return "", bad
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b.WriteByte(raw[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return "", bad
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					b.WriteRune(dec)
					i += 6
					continue
				}
				// A lone surrogate is not a valid Unicode string.
				return "", bad
			}
			b.WriteRune(r)
			continue
		default:
			return "", bad
		}
		i += 2
	}
	return b.String(), nil
}

func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	return rune(v), err == nil
}

type fieldSet struct {
	names map[string]reflect.Type // struct: allowed members
	elem  reflect.Type            // map: every member has this type
	any   bool                    // anything goes (interface, RawMessage, non-object)
}

func fieldsOf(t reflect.Type) fieldSet {
	if t == nil {
		return fieldSet{any: true}
	}
	switch t.Kind() {
	case reflect.Map:
		return fieldSet{elem: t.Elem()}
	case reflect.Struct:
		fs := fieldSet{names: make(map[string]reflect.Type, t.NumField())}
		addFields(fs.names, t)
		return fs
	}
	return fieldSet{any: true}
}

func addFields(m map[string]reflect.Type, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(m, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
}

func (s *scanner) object(t reflect.Type, maxArray int) error {
	s.depth++
	if s.depth > s.opts.MaxDepth {
		return &Error{Kind: KindDepth, Path: s.path(), Msg: "JSON nesting is too deep"}
	}
	defer func() { s.depth-- }()
	fs := fieldsOf(t)
	s.i++ // {
	s.skipWS()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return nil
	}
	// Small objects dominate: a fixed array of names on the stack beats a
	// map until it overflows.
	var seenArr [16][]byte
	seen := seenArr[:0]
	var seenMap map[string]struct{}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return s.syntax()
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		s.stack = append(s.stack, frame{name: name, index: -1})
		dup := false
		if seenMap != nil {
			_, dup = seenMap[string(name)]
			seenMap[string(name)] = struct{}{}
		} else {
			for _, n := range seen {
				if string(n) == string(name) {
					dup = true
					break
				}
			}
			if len(seen) < cap(seen) {
				seen = append(seen, name)
			} else {
				seenMap = make(map[string]struct{}, 2*len(seen))
				for _, n := range seen {
					seenMap[string(n)] = struct{}{}
				}
				seenMap[string(name)] = struct{}{}
			}
		}
		if dup {
			ps := s.path()
			return &Error{Kind: KindDuplicate, Path: ps, Msg: "duplicate field " + strconv.Quote(ps)}
		}
		var ft reflect.Type
		switch {
		case fs.any:
		case fs.names != nil:
			var ok bool
			if ft, ok = fs.names[string(name)]; !ok {
				ps := s.path()
				return &Error{Kind: KindUnknown, Path: ps, Msg: "unknown field " + strconv.Quote(ps)}
			}
		default:
			ft = fs.elem
		}
		s.skipWS()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.syntax()
		}
		s.i++
		s.skipWS()
		limit := maxArray
		if s.depth == 1 {
			for _, u := range s.opts.Unbounded {
				if u == string(name) {
					limit = 0
				}
			}
		}
		if err := s.value(ft, limit); err != nil {
			return err
		}
		s.stack = s.stack[:len(s.stack)-1]
		s.skipWS()
		if s.i >= len(s.data) {
			return s.syntax()
		}
		if s.data[s.i] == ',' {
			s.i++
			s.skipWS()
			continue
		}
		if s.data[s.i] == '}' {
			s.i++
			return nil
		}
		return s.syntax()
	}
}

func (s *scanner) array(t reflect.Type, maxArray int) error {
	s.depth++
	if s.depth > s.opts.MaxDepth {
		return &Error{Kind: KindDepth, Path: s.path(), Msg: "JSON nesting is too deep"}
	}
	defer func() { s.depth-- }()
	var et reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		et = t.Elem()
	}
	s.i++ // [
	s.skipWS()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if maxArray > 0 && n >= maxArray {
			ps := s.path()
			return &Error{Kind: KindArray, Path: ps, Msg: ps + " may hold at most " + strconv.Itoa(maxArray) + " items"}
		}
		s.stack = append(s.stack, frame{index: n})
		if err := s.value(et, maxArray); err != nil {
			return err
		}
		s.stack = s.stack[:len(s.stack)-1]
		s.skipWS()
		if s.i >= len(s.data) {
			return s.syntax()
		}
		if s.data[s.i] == ',' {
			s.i++
			s.skipWS()
			continue
		}
		if s.data[s.i] == ']' {
			s.i++
			return nil
		}
		return s.syntax()
	}
}
