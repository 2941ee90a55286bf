package openapi

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The definition format only places scalars in paths and headers (headers as
// strings) and scalars or arrays of scalars in queries (§11.1). paramShape
// fits an OpenAPI parameter into that, keeping as much of its schema as the
// wire format allows.

type shape int

const (
	shapeOther  shape = iota // object, array of objects, mixed union
	shapeAny                 // no type at all: sent as text
	shapeScalar              // string, integer, number or boolean
	shapeArray               // array of scalars
	shapeNull                // type null: a union member that is no value on the wire
)

func isScalarType(t string) bool {
	return t == "string" || t == "integer" || t == "number" || t == "boolean"
}

// typed follows lone allOf members to the schema that carries the type.
func typed(ref *openapi3.SchemaRef) *openapi3.SchemaRef {
	for range maxSchemaDepth {
		if ref == nil || ref.Value == nil || len(ref.Value.AllOf) != 1 || len(schemaTypes(ref.Value)) > 0 {
			return ref
		}
		ref = ref.Value.AllOf[0]
	}
	return ref
}

func nonNull(types []string) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		if t != "null" {
			out = append(out, t)
		}
	}
	return out
}

// classify returns the wire shape of a schema, the schema to render for it
// and, for scalars, the type.
func classify(ref *openapi3.SchemaRef, depth int) (shape, *openapi3.SchemaRef, string) {
	ref = typed(ref)
	if ref == nil || ref.Value == nil || depth > 3 {
		return shapeAny, ref, ""
	}
	s := ref.Value
	all := schemaTypes(s)
	types := nonNull(all)
	if len(all) > 0 && len(types) == 0 {
		return shapeNull, ref, ""
	}
	switch {
	case len(types) == 1 && isScalarType(types[0]):
		return shapeScalar, ref, types[0]
	case len(types) == 1 && types[0] == "array":
		if sh, _, _ := classify(s.Items, depth+1); sh == shapeScalar || sh == shapeAny {
			return shapeArray, ref, ""
		}
		return shapeOther, ref, ""
	case len(types) > 1:
		for _, t := range types {
			if !isScalarType(t) {
				return shapeOther, ref, ""
			}
		}
		return shapeScalar, ref, "string"
	case len(types) == 1:
		return shapeOther, ref, ""
	}
	if branches := append(slices.Clip(s.OneOf), s.AnyOf...); len(branches) > 0 {
		// A union of a scalar and an array of scalars (Discord writes
		// "one id or a list of ids" so) is sent as the array; a union of
		// scalars as their common type, else as a string.
		var arr *openapi3.SchemaRef
		common := ""
		for _, b := range branches {
			sh, r, t := classify(b, depth+1)
			switch sh {
			case shapeArray:
				if arr == nil {
					arr = r
				}
			case shapeScalar:
				if common == "" || common == t {
					common = t
				} else {
					common = "string"
				}
			case shapeAny:
				common = "string"
			case shapeNull:
			default:
				return shapeOther, ref, ""
			}
		}
		if arr != nil {
			return shapeArray, arr, ""
		}
		if common == "" {
			common = "string"
		}
		return shapeScalar, nil, common
	}
	if len(s.Enum) > 0 {
		return shapeScalar, ref, enumType(s.Enum)
	}
	if len(s.Properties) > 0 || s.AdditionalProperties.Schema != nil {
		return shapeOther, ref, ""
	}
	if s.Items != nil {
		if sh, _, _ := classify(s.Items, depth+1); sh == shapeScalar || sh == shapeAny {
			return shapeArray, ref, ""
		}
		return shapeOther, ref, ""
	}
	return shapeAny, ref, ""
}

func enumType(values []any) string {
	t := ""
	for _, v := range values {
		var vt string
		switch v.(type) {
		case nil:
			continue
		case string:
			vt = "string"
		case bool:
			vt = "boolean"
		case float64, int, int64:
			vt = "number"
		default:
			return "string"
		}
		if t != "" && t != vt {
			return "string"
		}
		t = vt
	}
	if t == "" {
		t = "string"
	}
	return t
}

// paramShape renders a parameter's schema, or returns nil and why it cannot.
func (m *mapper) paramShape(p *openapi3.Parameter) (*obj, string) {
	ref := p.Schema
	viaContent := false
	if ref == nil && len(p.Content) > 0 {
		// A parameter with content (usually JSON-encoded) is passed as the
		// text to send.
		if mt := p.Content[sortedKeys(p.Content)[0]]; mt != nil {
			ref = mt.Schema
		}
		viaContent = true
	}
	sh, r, typ := classify(ref, 0)
	if viaContent && sh != shapeScalar {
		sh, typ = shapeScalar, "string"
		r = nil
	}
	var o *obj
	switch sh {
	case shapeOther:
		return nil, "has an object schema, which " + p.In + " parameters cannot carry"
	case shapeAny:
		o = &obj{}
		o.set("type", "string")
	case shapeScalar:
		o = m.scalar(r, typ, p.In == "header")
	case shapeArray:
		sep := listSeparator(p)
		if sep == "" {
			o = m.array(r)
			break
		}
		o = &obj{}
		o.set("type", "string")
		hint := "Comma-separated list"
		switch sep {
		case " ":
			hint = "Space-separated list"
		case "|":
			hint = "Pipe-separated list"
		}
		if it := m.scalar(itemsOf(r), "", false); it != nil {
			if enum, ok := it.get("enum"); ok {
				hint += " of " + enumList(enum)
			}
		}
		o.set("description", hint+".")
	}
	desc := strings.TrimSpace(p.Description)
	if viaContent {
		desc = strings.TrimSpace(desc + " (JSON-encoded)")
	}
	if hint, ok := o.get("description"); ok && sh == shapeArray && listSeparator(p) != "" {
		desc = strings.TrimSpace(desc + " " + hint.(string))
	}
	if desc != "" {
		o.set("description", desc)
	}
	if p.Deprecated {
		o.set("deprecated", true)
	}
	return o, ""
}

// listSeparator is how an array parameter is written into one value: "" for
// repeated name=value pairs (a query with style form, explode true: the
// runtime's own encoding), else the separator the upstream expects.
func listSeparator(p *openapi3.Parameter) string {
	if p.In != "query" {
		return "," // path and header arrays use style simple
	}
	switch p.Style {
	case "spaceDelimited":
		return " "
	case "pipeDelimited":
		return "|"
	}
	if p.Explode != nil && !*p.Explode {
		return ","
	}
	return ""
}

func itemsOf(r *openapi3.SchemaRef) *openapi3.SchemaRef {
	if r = typed(r); r == nil || r.Value == nil {
		return nil
	}
	return r.Value.Items
}

// scalar renders a scalar schema with a single non-null type (null is not a
// value on the wire); typ "" keeps the schema's own. Header values are
// strings, so a header keeps only what applies to its text.
func (m *mapper) scalar(r *openapi3.SchemaRef, typ string, header bool) *obj {
	if r == nil || r.Value == nil || r.Value.Always != nil {
		o := &obj{}
		o.set("type", cmpOr(typ, "string"))
		return o
	}
	v := m.conv.schema(r, 1)
	o, ok := v.(*obj)
	if !ok {
		o = &obj{}
	}
	if typ == "" {
		typ = "string"
		if t := nonNull(schemaTypes(r.Value)); len(t) == 1 && isScalarType(t[0]) {
			typ = t[0]
		}
	}
	if typ != "string" && header {
		return headerString(o, typ)
	}
	o.set("type", typ)
	if enum, ok := o.get("enum"); ok {
		o.set("enum", dropNull(enum.([]any)))
	}
	o.del("oneOf")
	o.del("anyOf")
	return o
}

// headerString turns a non-string scalar schema into a string one.
func headerString(o *obj, typ string) *obj {
	out := &obj{}
	out.set("type", "string")
	if d, ok := o.get("description"); ok {
		out.set("description", d)
	}
	if enum, ok := o.get("enum"); ok {
		var strs []string
		for _, e := range dropNull(enum.([]any)) {
			strs = append(strs, rawText(e))
		}
		out.set("enum", strs)
	}
	if d, ok := o.get("default"); ok {
		out.set("default", rawText(d))
	}
	switch typ {
	case "integer":
		out.set("pattern", "^-?[0-9]+$")
	case "boolean":
		if _, ok := out.get("enum"); !ok {
			out.set("enum", []string{"true", "false"})
		}
	}
	return out
}

func (m *mapper) array(r *openapi3.SchemaRef) *obj {
	r = typed(r)
	v := m.conv.schema(r, 1)
	o, ok := v.(*obj)
	if !ok {
		o = &obj{}
	}
	o.set("type", "array")
	o.del("oneOf")
	o.del("anyOf")
	if items := itemsOf(r); items != nil {
		sh, ir, typ := classify(items, 1)
		if sh == shapeAny {
			typ = "string"
		}
		it := m.scalar(ir, typ, false)
		o.set("items", it)
	} else {
		it := &obj{}
		it.set("type", "string")
		o.set("items", it)
	}
	return o
}

func dropNull(enum []any) []any {
	out := make([]any, 0, len(enum))
	for _, e := range enum {
		if e == nil {
			continue
		}
		if raw, ok := e.(json.RawMessage); ok && string(raw) == "null" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// rawText is the text a JSON literal stands for on the wire: a string's
// content, else the literal itself.
func rawText(v any) string {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func enumList(enum any) string {
	list, _ := enum.([]any)
	parts := make([]string, 0, len(list))
	for _, e := range list {
		parts = append(parts, rawText(e))
	}
	return strings.Join(parts, ", ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
