package openapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bodyProp imports a document whose one operation has a JSON body with the
// property v and returns v's rendered schema (without x-in) and the warnings.
func bodyProp(t *testing.T, version, vSchema, components string) (any, []string) {
	t.Helper()
	doc := header(version) + `paths:
  /v:
    post:
      operationId: v
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                v:
` + indent(vSchema, 18) + `      responses: {'200': {description: ok}}
`
	if components != "" {
		doc += "components:\n  schemas:\n" + indent(components, 4)
	}
	res := mustImport(t, []byte(doc), nil)
	var params struct {
		Properties map[string]map[string]any
	}
	if err := json.Unmarshal(res.Connector.Resources[0].Actions[0].Parameters, &params); err != nil {
		t.Fatal(err)
	}
	v := params.Properties["v"]
	delete(v, "x-in")
	return v, res.Warnings
}

func TestSchemaConversion(t *testing.T) {
	const named = "Name: {type: string, description: Orig, maxLength: 3}"
	tests := []struct {
		name       string
		version    string
		schema     string
		components string
		want       string
		warnings   []string
	}{
		{name: "TypeArray31", version: "3.1.0", schema: "{type: [string, 'null'], maxLength: 5}", want: `{"type":["string","null"],"maxLength":5}`},
		{name: "Const31", version: "3.1.0", schema: "{const: fixed}", want: `{"const":"fixed"}`},
		{name: "ExamplesDropped", version: "3.1.0", schema: "{type: string, examples: [a, b]}", want: `{"type":"string"}`},
		{name: "ExampleDropped30", version: "3.0.3", schema: "{type: string, example: a}", want: `{"type":"string"}`},
		{name: "RefSiblingDescription31", version: "3.1.0", schema: "{$ref: '#/components/schemas/Name', description: Override}",
			components: named, want: `{"type":"string","description":"Override","maxLength":3}`},
		{name: "RefSiblingConstraint31", version: "3.1.0", schema: "{$ref: '#/components/schemas/Name', maxLength: 2}",
			components: named, want: `{"type":"string","description":"Orig","maxLength":3,"allOf":[{"maxLength":2}]}`},
		{name: "RefSiblingIgnored30", version: "3.0.3", schema: "{$ref: '#/components/schemas/Name', description: Override}",
			components: named, want: `{"type":"string","description":"Orig","maxLength":3}`},
		{name: "Defs31", version: "3.1.0", schema: "{$ref: '#/components/schemas/Wrap'}",
			components: "Wrap: {type: object, properties: {n: {$ref: '#/components/schemas/Wrap/$defs/N'}}, $defs: {N: {type: integer}}}",
			want:       `{"type":"object","properties":{"n":{"type":"integer"}}}`},
		{name: "ExclusiveBoolean30", version: "3.0.3", schema: "{type: number, minimum: 0, exclusiveMinimum: true, maximum: 9, exclusiveMaximum: false}",
			want: `{"type":"number","exclusiveMinimum":0,"maximum":9}`},
		{name: "ExclusiveNumber31", version: "3.1.0", schema: "{type: number, exclusiveMinimum: 0, maximum: 9}",
			want: `{"type":"number","exclusiveMinimum":0,"maximum":9}`},
		{name: "Nullable30", version: "3.0.3", schema: "{type: integer, nullable: true}", want: `{"type":["integer","null"]}`},
		{name: "BooleanSchemas31", version: "3.1.0", schema: "{type: object, properties: {any: true, none: false}}",
			want: `{"type":"object","properties":{"any":true,"none":false}}`},
		{name: "AdditionalProperties", version: "3.0.3", schema: "{type: object, properties: {m: {type: object, additionalProperties: {type: string}}}, additionalProperties: false}",
			want: `{"type":"object","properties":{"m":{"type":"object","additionalProperties":{"type":"string"}}},"additionalProperties":false}`},
		{name: "DocumentationKeywordsDropped", version: "3.0.3",
			schema: "{type: object, title: T, xml: {name: x}, externalDocs: {url: 'https://d.example'}, x-internal: true, discriminator: {propertyName: kind}, properties: {kind: {type: string, writeOnly: true}, id: {type: string, readOnly: true}}, required: [id, kind]}",
			want:   `{"type":"object","properties":{"kind":{"type":"string"}},"required":["kind"]}`},
		{name: "Deprecated", version: "3.0.3", schema: "{type: string, deprecated: true, default: x, enum: [x, y]}",
			want: `{"type":"string","enum":["x","y"],"default":"x","deprecated":true}`},
		{name: "ArraysAndTuples31", version: "3.1.0", schema: "{type: array, prefixItems: [{type: string}], items: {type: integer}, minItems: 1, maxItems: 4, uniqueItems: true}",
			want: `{"type":"array","items":{"type":"integer"},"prefixItems":[{"type":"string"}],"minItems":1,"maxItems":4,"uniqueItems":true}`},
		{name: "UnionTitles", version: "3.1.0", schema: "{anyOf: [{$ref: '#/components/schemas/Name'}, {type: integer}]}", components: named,
			want: `{"anyOf":[{"title":"Name","type":"string","description":"Orig","maxLength":3},{"type":"integer"}]}`},
		{name: "ECMAOnlyPatternDropped", version: "3.0.3", schema: "{type: string, pattern: '^(?!admin).+$', minLength: 1}",
			want:     `{"type":"string","minLength":1}`,
			warnings: []string{`operation POST /v: pattern "^(?!admin).+$" dropped: not an RE2 regular expression`}},
		{name: "DynamicRef31", version: "3.1.0", schema: "{type: object, $dynamicRef: '#node'}", want: `{"type":"object"}`,
			warnings: []string{`operation POST /v: $dynamicRef "#node" ignored`}},
		{name: "Applicators31", version: "3.1.0",
			schema: "{type: array, contains: {type: integer}, minContains: 1, unevaluatedItems: false, dependentSchemas: {a: {required: [b]}}, unevaluatedProperties: {type: string}}",
			want:   `{"type":"array","contains":{"type":"integer"},"minContains":1,"unevaluatedItems":false,"dependentSchemas":{"a":{"required":["b"]}},"unevaluatedProperties":{"type":"string"}}`},
		{name: "RE2PatternKept", version: "3.0.3", schema: `{type: string, pattern: '^\d{3}-[a-z]+$'}`, want: `{"type":"string","pattern":"^\\d{3}-[a-z]+$"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := bodyProp(t, tt.version, tt.schema, tt.components)
			if diff := cmp.Diff(js(t, tt.want), any(got)); diff != "" {
				t.Errorf("schema (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecursiveSchemaCut: a self-referencing schema is expanded until depth
// 10 (the property itself is depth 1) and cut there with {}.
func TestRecursiveSchemaCut(t *testing.T) {
	got, _ := bodyProp(t, "3.0.3", "{$ref: '#/components/schemas/Node'}",
		"Node: {type: object, properties: {name: {type: string}, children: {type: array, items: {$ref: '#/components/schemas/Node'}}}}")
	s := got.(map[string]any) // depth 1: Node
	depth := 1
	for len(s) != 0 {
		if depth%2 == 1 { // a Node: descend into children
			s = s["properties"].(map[string]any)["children"].(map[string]any)
		} else { // the children array: descend into items
			s = s["items"].(map[string]any)
		}
		depth++
		if depth > 20 {
			t.Fatal("no cut")
		}
	}
	if depth != maxSchemaDepth {
		t.Errorf("cut at depth %d, want %d", depth, maxSchemaDepth)
	}
}

func TestDocumentWarnings(t *testing.T) {
	doc := `openapi: 3.1.0
info: {title: T, version: '1'}
jsonSchemaDialect: 'https://json-schema.org/draft/2019-09/schema'
servers: [{url: 'https://a.example'}]
paths:
  /a:
    post:
      operationId: a
      callbacks:
        done: {'{$request.body#/url}': {post: {responses: {'200': {description: ok}}}}}
      responses: {'200': {description: ok}}
webhooks:
  newPet: {post: {responses: {'200': {description: ok}}}}
`
	res := mustImport(t, []byte(doc), nil)
	want := []string{
		"operation POST /a: callbacks ignored",
		"jsonSchemaDialect https://json-schema.org/draft/2019-09/schema ignored: schemas are read as JSON Schema 2020-12",
		"webhooks ignored: 1 webhook(s) describe calls the API makes, not operations to call",
	}
	if diff := cmp.Diff(want, res.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestSchemaShrinking: a parameter schema over maxParamsSize loses nested
// descriptions first, then depth, and says so when depth goes.
func TestSchemaShrinking(t *testing.T) {
	long := strings.Repeat("word ", 400) // ~2 KB per description
	var props strings.Builder
	for i := range 10 {
		props.WriteString("p" + string(rune('a'+i)) + ": {type: object, description: '" + long + "', properties: {leaf: {type: string, description: '" + long + "'}}}\n")
	}
	got, warnings := bodyProp(t, "3.0.3", "type: object\ndescription: top\nproperties:\n"+indent(props.String(), 2), "")
	b, _ := json.Marshal(got)
	if len(b) > maxParamsSize {
		t.Errorf("schema is %d bytes", len(b))
	}
	s := got.(map[string]any)
	if s["description"] != "top" {
		t.Errorf("top-level description lost: %v", s["description"])
	}
	pa := s["properties"].(map[string]any)["pa"].(map[string]any)
	if d, _ := pa["description"].(string); len(d) > 160 {
		t.Errorf("nested description kept at %d bytes", len(d))
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %v; shrinking descriptions is silent", warnings)
	}
}

// TestFanOutBounded: six self-references per level would render 6^10
// nodes at depth 10; the node budget stops that early and says so.
func TestFanOutBounded(t *testing.T) {
	var props strings.Builder
	for i := range 6 {
		props.WriteString("r" + string(rune('a'+i)) + ": {$ref: '#/components/schemas/N'}\n")
	}
	props.WriteString("all: {allOf: [{$ref: '#/components/schemas/N'}, {$ref: '#/components/schemas/N'}, {$ref: '#/components/schemas/N'}]}\n")
	got, warnings := bodyProp(t, "3.0.3", "{$ref: '#/components/schemas/N'}",
		"N:\n  type: object\n  properties:\n"+indent(props.String(), 4))
	b, _ := json.Marshal(got)
	if len(b) > maxParamsSize {
		t.Errorf("schema is %d bytes", len(b))
	}
	want := []string{"operation POST /v: parameter schema nested deeper than 3 levels cut to {} to keep it under 32 KiB"}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
