package openapi

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// converter renders OpenAPI schemas as JSON Schema 2020-12 for the parameters
// of actions. All its schemas describe requests, so readOnly properties are
// left out.
type converter struct {
	// patterns caches whether a regular expression compiles with Go's RE2,
	// which the runtime's JSON Schema validator uses; OpenAPI patterns are
	// ECMA-262 and may use lookarounds or backreferences.
	patterns map[string]bool
	// notes collects what one rendering had to leave out, for warnings.
	notes []string
	// level is how hard the current rendering shrinks (see levels).
	level level
	// budget is how many more schema nodes this rendering may produce. A
	// schema with several self-references fans out exponentially before
	// depth 10 (5 references: 5^10 nodes), so rendering stops at the budget
	// instead of after the fact; exhausted reports that it did.
	budget    int
	exhausted bool
}

// maxNodes bounds one rendering; well above what maxParamsSize holds.
const maxNodes = 8192

func newConverter() *converter {
	return &converter{patterns: make(map[string]bool), level: levels[0]}
}

// A level trades detail for size. An action's parameter schema is shown to
// AI models, so one that renders larger than maxParamsSize is rendered again
// at the next level: first nested descriptions (below the top-level
// properties) shrink to their first sentence, then go, then nesting is cut
// shallower than maxSchemaDepth.
type level struct {
	depth int // schemas at this depth become {}
	desc  int // nested descriptions: 0 full, 1 first sentence, 2 none
}

var levels = [...]level{
	{maxSchemaDepth, 0}, {maxSchemaDepth, 1}, {maxSchemaDepth, 2},
	{8, 2}, {6, 2}, {4, 2}, {3, 2}, {2, 2},
}

// maxParamsSize is the size above which a parameter schema is shrunk.
const maxParamsSize = 32 << 10

// description applies the level to a description at the given depth.
func (c *converter) description(d string, depth int) string {
	if depth < 2 || c.level.desc == 0 {
		return d
	}
	if c.level.desc >= 2 {
		return ""
	}
	return firstSentence(d)
}

// firstSentence cuts d after its first sentence or paragraph, at most 160
// characters.
func firstSentence(d string) string {
	d = strings.TrimSpace(d)
	if i := strings.Index(d, "\n\n"); i >= 0 {
		d = d[:i]
	}
	if i := strings.Index(d, ". "); i >= 0 {
		d = d[:i+1]
	}
	d = oneLine(d)
	if r := []rune(d); len(r) > 160 {
		d = string(r[:157]) + "..."
	}
	return d
}

// schema renders ref at the given depth (a parameter's own schema is depth 1).
// At maxSchemaDepth the schema becomes {}: that bounds recursive schemas, which
// kin-openapi resolves into pointer cycles, and keeps deeply nested ones short.
func (c *converter) schema(ref *openapi3.SchemaRef, depth int) any {
	if ref == nil || ref.Value == nil || depth >= c.level.depth {
		return &obj{}
	}
	if c.budget--; c.budget < 0 {
		c.exhausted = true
		return &obj{}
	}
	s := ref.Value
	if s.Always != nil {
		return *s.Always
	}
	o := &obj{}
	types := schemaTypes(s)
	switch len(types) {
	case 0:
	case 1:
		o.set("type", types[0])
	default:
		o.set("type", types)
	}
	if s.Format != "" {
		o.set("format", s.Format)
	}
	if d := c.description(s.Description, depth); d != "" {
		o.set("description", d)
	}
	if len(s.Enum) > 0 {
		enum := make([]any, 0, len(s.Enum)+1)
		hasNull := false
		for _, v := range s.Enum {
			if v == nil {
				hasNull = true
			}
			if raw, ok := literal(v); ok {
				enum = append(enum, raw)
			}
		}
		// OpenAPI 3.0 nullable also admits null next to an enum; 2020-12
		// needs it listed.
		if s.Nullable && !hasNull && slices.Contains(types, "null") {
			enum = append(enum, nil)
		}
		o.set("enum", enum)
	}
	if s.Const != nil {
		if raw, ok := literal(s.Const); ok {
			o.set("const", raw)
		}
	}
	if s.Default != nil {
		if raw, ok := literal(s.Default); ok {
			o.set("default", raw)
		}
	}
	c.numbers(o, s)
	if s.MinLength > 0 {
		o.set("minLength", s.MinLength)
	}
	if s.MaxLength != nil {
		o.set("maxLength", *s.MaxLength)
	}
	if s.Pattern != "" && c.compiles(s.Pattern) {
		o.set("pattern", s.Pattern)
	}
	if s.Items != nil {
		o.set("items", c.schema(s.Items, depth+1))
	}
	if len(s.PrefixItems) > 0 {
		o.set("prefixItems", c.list(s.PrefixItems, depth+1, false))
	}
	if s.MinItems > 0 {
		o.set("minItems", s.MinItems)
	}
	if s.MaxItems != nil {
		o.set("maxItems", *s.MaxItems)
	}
	if s.UniqueItems {
		o.set("uniqueItems", true)
	}
	if s.Contains != nil {
		o.set("contains", c.schema(s.Contains, depth+1))
		if s.MinContains != nil {
			o.set("minContains", *s.MinContains)
		}
		if s.MaxContains != nil {
			o.set("maxContains", *s.MaxContains)
		}
	}
	switch u := s.UnevaluatedItems; {
	case u.Has != nil && !*u.Has:
		o.set("unevaluatedItems", false)
	case u.Schema != nil:
		o.set("unevaluatedItems", c.schema(u.Schema, depth+1))
	}
	c.object(o, s, depth)
	if len(s.AllOf) > 0 {
		o.set("allOf", c.list(s.AllOf, depth+1, false))
	}
	if len(s.AnyOf) > 0 {
		o.set("anyOf", c.list(s.AnyOf, depth+1, true))
	}
	if len(s.OneOf) > 0 {
		o.set("oneOf", c.list(s.OneOf, depth+1, true))
	}
	if s.Not != nil {
		o.set("not", c.schema(s.Not, depth+1))
	}
	if s.If != nil {
		o.set("if", c.schema(s.If, depth+1))
		if s.Then != nil {
			o.set("then", c.schema(s.Then, depth+1))
		}
		if s.Else != nil {
			o.set("else", c.schema(s.Else, depth+1))
		}
	}
	if s.Deprecated {
		o.set("deprecated", true)
	}
	if s.DynamicRef != "" {
		// Inlining leaves no dynamic scope to resolve it in.
		c.note(fmt.Sprintf("$dynamicRef %q ignored", cut(s.DynamicRef, 100)))
	}
	return o
}

func (c *converter) numbers(o *obj, s *openapi3.Schema) {
	// OpenAPI 3.0 writes an exclusive bound as a boolean next to minimum or
	// maximum; 2020-12 (and OpenAPI 3.1) as the number itself.
	switch {
	case s.ExclusiveMin.Value != nil:
		o.set("exclusiveMinimum", *s.ExclusiveMin.Value)
		if s.Min != nil {
			o.set("minimum", *s.Min)
		}
	case s.ExclusiveMin.IsTrue() && s.Min != nil:
		o.set("exclusiveMinimum", *s.Min)
	case s.Min != nil:
		o.set("minimum", *s.Min)
	}
	switch {
	case s.ExclusiveMax.Value != nil:
		o.set("exclusiveMaximum", *s.ExclusiveMax.Value)
		if s.Max != nil {
			o.set("maximum", *s.Max)
		}
	case s.ExclusiveMax.IsTrue() && s.Max != nil:
		o.set("exclusiveMaximum", *s.Max)
	case s.Max != nil:
		o.set("maximum", *s.Max)
	}
	if s.MultipleOf != nil && *s.MultipleOf > 0 {
		o.set("multipleOf", *s.MultipleOf)
	}
}

func (c *converter) object(o *obj, s *openapi3.Schema, depth int) {
	if len(s.Properties) > 0 {
		props := &obj{}
		for _, name := range propertyOrder(s.Properties) {
			p := s.Properties[name]
			if isReadOnly(p) {
				continue
			}
			props.set(name, c.schema(p, depth+1))
		}
		o.set("properties", props)
	}
	if req := requestRequired(s); len(req) > 0 {
		o.set("required", req)
	}
	switch ap := s.AdditionalProperties; {
	case ap.Has != nil && !*ap.Has:
		o.set("additionalProperties", false)
	case ap.Schema != nil:
		o.set("additionalProperties", c.schema(ap.Schema, depth+1))
	}
	if len(s.PatternProperties) > 0 {
		pp := &obj{}
		for _, k := range sortedKeys(s.PatternProperties) {
			if c.compiles(k) {
				pp.set(k, c.schema(s.PatternProperties[k], depth+1))
			}
		}
		if len(pp.keys) > 0 {
			o.set("patternProperties", pp)
		}
	}
	if s.PropertyNames != nil {
		o.set("propertyNames", c.schema(s.PropertyNames, depth+1))
	}
	if s.MinProps > 0 {
		o.set("minProperties", s.MinProps)
	}
	if s.MaxProps != nil {
		o.set("maxProperties", *s.MaxProps)
	}
	if len(s.DependentRequired) > 0 {
		dr := &obj{}
		for _, k := range sortedKeys(s.DependentRequired) {
			dr.set(k, s.DependentRequired[k])
		}
		o.set("dependentRequired", dr)
	}
	if len(s.DependentSchemas) > 0 {
		ds := &obj{}
		for _, k := range sortedKeys(s.DependentSchemas) {
			ds.set(k, c.schema(s.DependentSchemas[k], depth+1))
		}
		o.set("dependentSchemas", ds)
	}
	switch u := s.UnevaluatedProperties; {
	case u.Has != nil && !*u.Has:
		o.set("unevaluatedProperties", false)
	case u.Schema != nil:
		o.set("unevaluatedProperties", c.schema(u.Schema, depth+1))
	}
}

// list renders allOf/anyOf/oneOf members. Alternatives get a title (their
// own, else the component name) so that a model can tell them apart.
func (c *converter) list(refs openapi3.SchemaRefs, depth int, titled bool) []any {
	out := make([]any, 0, len(refs))
	for _, r := range refs {
		v := c.schema(r, depth)
		if o, ok := v.(*obj); ok && titled && len(o.keys) > 0 {
			if t := branchTitle(r); t != "" {
				o.keys = append([]string{"title"}, o.keys...)
				o.vals = append([]any{t}, o.vals...)
			}
		}
		out = append(out, v)
	}
	return out
}

func branchTitle(r *openapi3.SchemaRef) string {
	if r.Value != nil && r.Value.Title != "" {
		return r.Value.Title
	}
	if i := strings.LastIndexByte(r.Ref, '/'); i >= 0 && strings.HasPrefix(r.Ref, "#/") {
		return strings.NewReplacer("~1", "/", "~0", "~").Replace(r.Ref[i+1:])
	}
	return ""
}

func (c *converter) note(msg string) {
	if !slices.Contains(c.notes, msg) {
		c.notes = append(c.notes, msg)
	}
}

func (c *converter) compiles(pattern string) bool {
	ok, seen := c.patterns[pattern]
	if !seen {
		_, err := regexp.Compile(pattern)
		ok = err == nil
		c.patterns[pattern] = ok
	}
	if !ok {
		c.note(fmt.Sprintf("pattern %q dropped: not an RE2 regular expression", cut(pattern, 100)))
	}
	return ok
}

// schemaTypes returns the schema's types, with null added for the OpenAPI 3.0
// nullable keyword (honoured in 3.1 documents too, where some publishers still
// write it).
func schemaTypes(s *openapi3.Schema) []string {
	if s.Type == nil || len(*s.Type) == 0 {
		return nil
	}
	types := []string(*s.Type)
	if s.Nullable && !slices.Contains(types, "null") {
		types = append(slices.Clip(types), "null")
	}
	return types
}

// typesOf returns the types of a schema, looking through a lone allOf member,
// the OpenAPI 3.0 idiom for annotating a $ref.
func typesOf(ref *openapi3.SchemaRef) []string {
	for range maxSchemaDepth {
		if ref == nil || ref.Value == nil {
			return nil
		}
		s := ref.Value
		if t := schemaTypes(s); len(t) > 0 {
			return t
		}
		if len(s.AllOf) != 1 {
			return nil
		}
		ref = s.AllOf[0]
	}
	return nil
}

func isReadOnly(ref *openapi3.SchemaRef) bool {
	return ref != nil && ref.Value != nil && ref.Value.ReadOnly
}

// requestRequired is the required list without read-only properties, which a
// request must not send although a response schema marks them required.
func requestRequired(s *openapi3.Schema) []string {
	var out []string
	for _, name := range s.Required {
		if isReadOnly(s.Properties[name]) || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

type namedSchema struct {
	name string
	ref  *openapi3.SchemaRef
}

// objectView returns the properties and required names of an object schema,
// merged across allOf members. ok is false when the schema is not a plain
// object: another type, a union (oneOf/anyOf/not), or no properties at all.
func objectView(ref *openapi3.SchemaRef) (props []namedSchema, required []string, ok bool) {
	budget := maxNodes
	props, required, ok = collectObject(ref, nil, nil, 0, &budget)
	return props, required, ok && len(props) > 0
}

func collectObject(ref *openapi3.SchemaRef, props []namedSchema, required []string, depth int, budget *int) ([]namedSchema, []string, bool) {
	if *budget--; ref == nil || ref.Value == nil || depth >= maxSchemaDepth || *budget < 0 {
		return nil, nil, false
	}
	s := ref.Value
	if s.Always != nil || len(s.OneOf) > 0 || len(s.AnyOf) > 0 || s.Not != nil {
		return nil, nil, false
	}
	if t := schemaTypes(s); len(t) > 0 && !slices.Contains(t, "object") {
		return nil, nil, false
	}
	for _, name := range propertyOrder(s.Properties) {
		if !slices.ContainsFunc(props, func(p namedSchema) bool { return p.name == name }) {
			props = append(props, namedSchema{name, s.Properties[name]})
		}
	}
	required = append(required, requestRequired(s)...)
	for _, m := range s.AllOf {
		var ok bool
		if props, required, ok = collectObject(m, props, required, depth+1, budget); !ok {
			return nil, nil, false
		}
	}
	return props, required, true
}

// propertyOrder lists property names in document order when the loader
// recorded positions (always, for OpenAPI 3 input), else alphabetically.
func propertyOrder(props openapi3.Schemas) []string {
	names := sortedKeys(props)
	slices.SortStableFunc(names, func(a, b string) int {
		return compareOrigin(props[a].Origin, props[b].Origin)
	})
	return names
}

func compareOrigin(a, b *openapi3.Origin) int {
	if a == nil || a.Key == nil || b == nil || b.Key == nil {
		return 0
	}
	return cmp.Or(cmp.Compare(a.Key.Line, b.Key.Line), cmp.Compare(a.Key.Column, b.Key.Column))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
