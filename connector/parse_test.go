package connector

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

func readExample(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/acme-crm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseExample(t *testing.T) {
	c, err := Parse(readExample(t), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := Validate(c, nil); got != nil {
		t.Fatalf("Validate: %v", got)
	}
	if c.ID != "acme-crm" || c.Name != "Acme CRM" || c.BaseURL != "https://{region}.api.acme-crm.example/v2" {
		t.Errorf("connector = %q %q %q", c.ID, c.Name, c.BaseURL)
	}
	if diff := cmp.Diff([]string{"oauth2", "apiKey"}, c.AuthTypes()); diff != "" {
		t.Errorf("auth types (-want +got):\n%s", diff)
	}
	if n := c.ActionCount(); n != 4 {
		t.Errorf("ActionCount = %d, want 4", n)
	}
	// Member order of the schema survives YAML.
	want := `{"type":"object","properties":{"query":{"type":"string","description":"Search by name or email","x-in":"query"},"limit":{"type":"integer","minimum":1,"maximum":100,"default":20,"description":"Page size","x-in":"query"},"cursor":{"type":"string","description":"Cursor from a previous page","x-in":"query"}}}`
	if got := string(c.Resources[0].Actions[0].Parameters); got != want {
		t.Errorf("contacts_list parameters:\n got %s\nwant %s", got, want)
	}
	_, del := c.FindAction("deals_delete")
	if del == nil || !del.IsDestructive() || *del.Destructive != true {
		t.Errorf("deals_delete = %+v", del)
	}

	cc, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	info, ok := cc.Action("deals_create")
	if !ok {
		t.Fatal("deals_create not compiled")
	}
	if info.ReadOnly || info.Destructive || info.Idempotent || info.Resource.ID != "deals" {
		t.Errorf("deals_create info = %+v", info)
	}
	b := cc.actions["deals_create"].props["idempotencyKey"]
	if diff := cmp.Diff(&binding{name: "idempotencyKey", in: inHeader, wire: "Idempotency-Key", wireKey: "Idempotency-Key"}, b, cmp.AllowUnexported(binding{})); diff != "" {
		t.Errorf("idempotencyKey binding (-want +got):\n%s", diff)
	}
	if _, ok := cc.Action("Deals_Create"); ok {
		t.Error("action lookup must be case-sensitive")
	}
}

// TestParseJSONRoundTrip: the same definition as JSON parses to the same
// connector.
func TestParseJSONRoundTrip(t *testing.T) {
	c, err := Parse(readExample(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(data, nil)
	if err != nil {
		t.Fatalf("Parse(JSON): %v\n%s", err, data)
	}
	if diff := cmp.Diff(c, c2); diff != "" {
		t.Errorf("JSON round trip (-yaml +json):\n%s", diff)
	}
}

func TestParseMCP(t *testing.T) {
	doc := `{"type":"mcp","id":"docs-search","name":"Docs search","url":"https://mcp.docs.example/mcp",
	  "auth":[{"type":"bearer"}],"headers":{"X-Team":"42"},
	  "resources":[{"id":"tools","name":"Tools","actions":[{"id":"search","name":"Search","tool":"search",
	    "parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}]}]}`
	c, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Headers["X-Team"].Reveal() != "42" {
		t.Errorf("headers = %v", c.Headers)
	}
	if a := c.Resources[0].Actions[0]; a.Method != "MCP" {
		t.Errorf("method = %q, want MCP", a.Method)
	}
	// Many MCP tools declare draft-07; that compiles for mcp connectors.
	d7 := `{"type":"mcp","id":"d7","name":"D7","url":"https://mcp.example/mcp","resources":[{"id":"tools","name":"Tools","actions":[{"id":"t","name":"T",
	  "parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"a":{"type":"string"}}}}]}]}`
	if c, err := Parse([]byte(d7), nil); err != nil {
		t.Errorf("draft-07 tool schema: %v", err)
	} else if _, err := Compile(c); err != nil {
		t.Errorf("Compile draft-07 tool schema: %v", err)
	}
	// Tools may come later: an mcp connector without resources is valid.
	if _, err := Parse([]byte(`{"type":"mcp","id":"x","name":"X","url":"https://mcp.example/mcp"}`), nil); err != nil {
		t.Errorf("mcp without resources: %v", err)
	}
}

// restDoc is a valid definition around one action given as a YAML flow
// mapping.
func restDoc(action string) string {
	return `id: t
name: T
baseUrl: https://api.example.com/v1
auth: [{type: apiKey, in: header, name: X-Api-Key}]
resources:
  - id: items
    name: Items
    actions:
      - ` + action + "\n"
}

// topDoc is a valid definition with extra top-level YAML.
func topDoc(top string) string {
	return top + `
resources:
  - id: items
    name: Items
    actions:
      - {id: items_list, name: List, method: GET, path: /items}
`
}

const a0 = "resources[0].actions[0]"

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		opts  *ValidateOptions
		paths []string // every problem path, in order
	}{
		{name: "NotYAML", doc: "id: [", paths: []string{""}},
		{name: "NotAnObject", doc: "[1, 2]", paths: []string{""}},
		{name: "TrailingJSON", doc: `{"id":"x"} {}`, paths: []string{""}},
		{name: "UnknownMember", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nextra: 1"), paths: []string{"extra"}},
		{name: "CaseVariant", doc: topDoc("id: t\nName: T\nbaseUrl: https://a.example"), paths: []string{"Name", "name"}},
		{name: "DuplicateYAML", doc: topDoc("id: t\nname: T\nname: U\nbaseUrl: https://a.example"), paths: []string{"name"}},
		{name: "DuplicateJSON", doc: `{"id":"t","name":"T","baseUrl":"https://a.example","resources":[{"id":"r","name":"R","actions":[{"id":"a","name":"A","method":"GET","path":"/a","parameters":{"type":"object","type":"object"}}]}]}`, paths: []string{a0 + ".parameters.type"}},
		{name: "WrongType", doc: topDoc("id: t\nname: 5\nbaseUrl: https://a.example"), paths: []string{"name"}},
		{name: "WrongItemType", doc: topDoc("id: t\nname: T\ncategories: [crm, 7]\nbaseUrl: https://a.example"), paths: []string{"categories[1]"}},
		{name: "BadID", doc: topDoc("id: Acme_CRM\nname: T\nbaseUrl: https://a.example"), paths: []string{"id"}},
		{name: "MissingName", doc: topDoc("id: t\nbaseUrl: https://a.example"), paths: []string{"name"}},
		{name: "LongName", doc: topDoc("id: t\nname: " + strings.Repeat("n", 101) + "\nbaseUrl: https://a.example"), paths: []string{"name"}},
		{name: "BadCategory", doc: topDoc("id: t\nname: T\ncategories: [CRM]\nbaseUrl: https://a.example"), paths: []string{"categories[0]"}},
		{name: "BadType", doc: topDoc("id: t\nname: T\ntype: soap\nbaseUrl: https://a.example"), paths: []string{"type"}},
		{name: "MissingBaseURL", doc: topDoc("id: t\nname: T"), paths: []string{"baseUrl"}},
		{name: "HTTPBaseURL", doc: topDoc("id: t\nname: T\nbaseUrl: http://a.example"), paths: []string{"baseUrl"}},
		{name: "BaseURLQuery", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example/v1?x=1"), paths: []string{"baseUrl"}},
		{name: "BaseURLFragment", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example/v1#top"), paths: []string{"baseUrl"}},
		{name: "BaseURLUserinfo", doc: topDoc("id: t\nname: T\nbaseUrl: https://u:p@a.example"), paths: []string{"baseUrl"}},
		{name: "BaseURLRelative", doc: topDoc("id: t\nname: T\nbaseUrl: /v1"), paths: []string{"baseUrl"}},
		{name: "BaseURLUnbalanced", doc: topDoc("id: t\nname: T\nbaseUrl: https://{region.a.example"), paths: []string{"baseUrl"}},
		{name: "PlaceholderWithoutAuth", doc: topDoc("id: t\nname: T\nbaseUrl: https://{region}.a.example"), paths: []string{"baseUrl"}},
		{name: "PlaceholderSecretField", doc: topDoc("id: t\nname: T\nbaseUrl: https://{region}.a.example\nauth: [{type: bearer, fields: [{name: region}]}]"), paths: []string{"baseUrl"}},
		{name: "PlaceholderOptionalField", doc: topDoc("id: t\nname: T\nbaseUrl: https://{region}.a.example\nauth: [{type: bearer, fields: [{name: region, secret: false, required: false}]}]"), paths: []string{"baseUrl"}},
		{name: "PlaceholderMissingInOneScheme", doc: topDoc("id: t\nname: T\nbaseUrl: https://{region}.a.example\nauth: [{type: bearer, fields: [{name: region, secret: false}]}, {type: basic}]"), paths: []string{"baseUrl"}},
		{name: "PlaceholderInPort", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example:{port}\nauth: [{type: bearer, fields: [{name: port, secret: false}]}]"), paths: []string{"baseUrl"}},
		{name: "RestWithURL", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nurl: https://a.example/mcp"), paths: []string{"url"}},
		{name: "RestWithoutResources", doc: "id: t\nname: T\nbaseUrl: https://a.example", paths: []string{"resources"}},
		{name: "TwoOAuth2Schemes", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: bearer}, {type: bearer}]"), paths: []string{"auth[1].type"}},
		{name: "UnknownScheme", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: digest}]"), paths: []string{"auth[0].type"}},
		{name: "OAuth2Incomplete", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: oauth2, authorizationUrl: https://l.example/a}]"), paths: []string{"auth[0].tokenUrl"}},
		{name: "OAuth2HTTPTokenURL", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: oauth2, authorizationUrl: https://l.example/a, tokenUrl: http://l.example/t}]"), paths: []string{"auth[0].tokenUrl"}},
		{name: "OAuth2BadAuthMethod", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: oauth2, authorizationUrl: https://l.example/a, tokenUrl: https://l.example/t, tokenAuthMethod: private_key_jwt}]"), paths: []string{"auth[0].tokenAuthMethod"}},
		{name: "OAuth2ReservedAuthorizeParam", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: oauth2, authorizationUrl: https://l.example/a, tokenUrl: https://l.example/t, authorizeParams: {redirect_uri: x}}]"), paths: []string{"auth[0].authorizeParams.redirect_uri"}},
		{name: "APIKeyIncomplete", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: apiKey}]"), paths: []string{"auth[0].in"}},
		{name: "APIKeyNoName", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: apiKey, in: header}]"), paths: []string{"auth[0].name"}},
		{name: "APIKeyQueryPrefix", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: apiKey, in: query, name: key, prefix: 'Token '}]"), paths: []string{"auth[0].prefix"}},
		{name: "APIKeyHostHeader", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: apiKey, in: header, name: Host}]"), paths: []string{"auth[0].name"}},
		{name: "MemberOfOtherType", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: bearer, tokenUrl: https://l.example/t}]"), paths: []string{"auth[0].tokenUrl"}},
		{name: "ReservedFieldName", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: bearer, fields: [{name: token}]}]"), paths: []string{"auth[0].fields[0].name"}},
		{name: "BadFieldPattern", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nauth: [{type: bearer, fields: [{name: region, pattern: '('}]}]"), paths: []string{"auth[0].fields[0].pattern"}},
		{name: "MCPWithoutURL", doc: "id: t\nname: T\ntype: mcp", paths: []string{"url"}},
		{name: "MCPWithBaseURL", doc: "id: t\nname: T\ntype: mcp\nurl: https://m.example/mcp\nbaseUrl: https://a.example", paths: []string{"baseUrl"}},
		{name: "MCPActionWithPath", doc: "id: t\nname: T\ntype: mcp\nurl: https://m.example/mcp\nresources: [{id: tools, name: Tools, actions: [{id: a, name: A, path: /a}]}]", paths: []string{a0 + ".path"}},
		{name: "MCPActionWithMethod", doc: "id: t\nname: T\ntype: mcp\nurl: https://m.example/mcp\nresources: [{id: tools, name: Tools, actions: [{id: a, name: A, method: GET}]}]", paths: []string{a0 + ".method"}},
		{name: "HeadersOnRest", doc: topDoc("id: t\nname: T\nbaseUrl: https://a.example\nheaders: {X-Team: '1'}"), paths: []string{"headers"}},
		{name: "DuplicateResource", doc: "id: t\nname: T\nbaseUrl: https://a.example\nresources: [{id: r, name: R, actions: [{id: a, name: A, method: GET, path: /a}]}, {id: r, name: R, actions: [{id: b, name: B, method: GET, path: /b}]}]", paths: []string{"resources[1].id"}},
		{name: "NoActions", doc: "id: t\nname: T\nbaseUrl: https://a.example\nresources: [{id: r, name: R, actions: []}]", paths: []string{"resources[0].actions"}},
		{name: "DuplicateActionIDCaseInsensitive", doc: "id: t\nname: T\nbaseUrl: https://a.example\nresources: [{id: r, name: R, actions: [{id: List, name: A, method: GET, path: /a}]}, {id: s, name: S, actions: [{id: list, name: B, method: GET, path: /b}]}]", paths: []string{"resources[1].actions[0].id"}},
		{name: "BadActionID", doc: restDoc("{id: 1list, name: A, method: GET, path: /a}"), paths: []string{a0 + ".id"}},
		{name: "BadMethod", doc: restDoc("{id: a, name: A, method: get, path: /a}"), paths: []string{a0 + ".method"}},
		{name: "PathWithoutSlash", doc: restDoc("{id: a, name: A, method: GET, path: a}"), paths: []string{a0 + ".path"}},
		{name: "PathWithQuery", doc: restDoc("{id: a, name: A, method: GET, path: '/a?x=1'}"), paths: []string{a0 + ".path"}},
		{name: "PathPlaceholderWithoutProperty", doc: restDoc("{id: a, name: A, method: GET, path: '/a/{id}'}"), paths: []string{a0 + ".path"}},
		{name: "PathPlaceholderNotRequired", doc: restDoc("{id: a, name: A, method: GET, path: '/a/{id}', parameters: {type: object, properties: {id: {type: string}}}}"), paths: []string{a0 + ".path"}},
		{name: "PathParamNotInPath", doc: restDoc("{id: a, name: A, method: GET, path: '/a', parameters: {type: object, properties: {id: {type: string, x-in: path}}, required: [id]}}"), paths: []string{a0 + ".parameters.properties.id"}},
		{name: "PathParamNotScalar", doc: restDoc("{id: a, name: A, method: GET, path: '/a/{id}', parameters: {type: object, properties: {id: {type: object}}, required: [id]}}"), paths: []string{a0 + ".parameters.properties.id"}},
		{name: "PathPlaceholderOtherLocation", doc: restDoc("{id: a, name: A, method: GET, path: '/a/{id}', parameters: {type: object, properties: {id: {type: string, x-in: query}}, required: [id]}}"), paths: []string{a0 + ".path"}},
		{name: "QueryObject", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {f: {type: object}}}}"), paths: []string{a0 + ".parameters.properties.f"}},
		{name: "QueryArrayOfObjects", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {f: {type: array, items: {type: object}}}}}"), paths: []string{a0 + ".parameters.properties.f"}},
		{name: "QueryUntyped", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {f: {enum: [a, b]}}}}"), paths: []string{a0 + ".parameters.properties.f"}},
		{name: "HeaderAuthorization", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {h: {type: string, x-in: header, x-name: Authorization}}}}"), paths: []string{a0 + ".parameters.properties.h"}},
		{name: "HeaderProxy", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {h: {type: string, x-in: header, x-name: Proxy-Authorization}}}}"), paths: []string{a0 + ".parameters.properties.h"}},
		{name: "HeaderAlloy", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {h: {type: string, x-in: header, x-name: X-Alloy-UserId}}}}"), paths: []string{a0 + ".parameters.properties.h"}},
		{name: "HeaderCookie", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {Cookie: {type: string, x-in: header}}}}"), paths: []string{a0 + ".parameters.properties.Cookie"}},
		{name: "HeaderAPIKeyClash", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {k: {type: string, x-in: header, x-name: x-api-key}}}}"), paths: []string{a0 + ".parameters.properties.k"}},
		{name: "HeaderNotString", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {h: {type: integer, x-in: header, x-name: X-Page}}}}"), paths: []string{a0 + ".parameters.properties.h"}},
		{name: "BodyOnGet", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {b: {type: string, x-in: body}}}}"), paths: []string{a0 + ".parameters.properties.b"}},
		{name: "BodyRootTwice", doc: restDoc("{id: a, name: A, method: POST, path: /a, parameters: {type: object, properties: {b: {type: array, x-body-root: true}, c: {type: array, x-body-root: true}}}}"), paths: []string{a0 + ".parameters.properties.c.x-body-root", a0 + ".parameters"}},
		{name: "BodyRootWithOtherBody", doc: restDoc("{id: a, name: A, method: POST, path: /a, parameters: {type: object, properties: {b: {type: array, x-body-root: true}, c: {type: string}}}}"), paths: []string{a0 + ".parameters"}},
		{name: "BodyRootOnQuery", doc: restDoc("{id: a, name: A, method: POST, path: /a, parameters: {type: object, properties: {b: {type: string, x-in: query, x-body-root: true}}}}"), paths: []string{a0 + ".parameters.properties.b.x-body-root"}},
		{name: "BadXIn", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {b: {type: string, x-in: cookie}}}}"), paths: []string{a0 + ".parameters.properties.b.x-in"}},
		{name: "DuplicateWireName", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {a: {type: string}, b: {type: string, x-name: a}}}}"), paths: []string{a0 + ".parameters.properties.b"}},
		{name: "ParametersNotObjectType", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: array}}"), paths: []string{a0 + ".parameters.type"}},
		{name: "SchemaDoesNotCompile", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {n: {type: integer, minimum: low}}}}"), paths: []string{a0 + ".parameters"}},
		{name: "RemoteRef", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {type: object, properties: {n: {$ref: 'https://evil.example/s.json'}}}}"), paths: []string{a0 + ".parameters.properties.n.$ref", a0 + ".parameters.properties.n"}},
		{name: "FileRef", doc: restDoc("{id: a, name: A, method: POST, path: /a, parameters: {type: object, properties: {n: {$ref: 'file:///etc/passwd'}}}}"), paths: []string{a0 + ".parameters.properties.n.$ref"}},
		{name: "OtherDraft", doc: restDoc("{id: a, name: A, method: GET, path: /a, parameters: {$schema: 'http://json-schema.org/draft-07/schema#', type: object}}"), paths: []string{a0 + ".parameters.$schema"}},
		{name: "BadBodyEncoding", doc: restDoc("{id: a, name: A, method: POST, path: /a, bodyEncoding: xml}"), paths: []string{a0 + ".bodyEncoding"}},
		{name: "FormBodyObject", doc: restDoc("{id: a, name: A, method: POST, path: /a, bodyEncoding: form, parameters: {type: object, properties: {o: {type: object}}}}"), paths: []string{a0 + ".parameters.properties.o"}},
		{name: "ToolOnRest", doc: restDoc("{id: a, name: A, method: GET, path: /a, tool: a}"), paths: []string{a0 + ".tool"}},
		{name: "BadItemsPath", doc: restDoc("{id: a, name: A, method: GET, path: /a, response: {itemsPath: 'data..items'}}"), paths: []string{a0 + ".response.itemsPath"}},
		{name: "UnknownActionMember", doc: restDoc("{id: a, name: A, method: GET, path: /a, summary: x}"), paths: []string{a0 + ".summary"}},
		{name: "ActionCaseVariant", doc: restDoc("{id: a, name: A, method: GET, Path: /a}"), paths: []string{a0 + ".Path", a0 + ".path"}},
		{name: "NullMember", doc: restDoc("{id: a, name: A, method: GET, path: /a, description: null}"), paths: nil},
		{name: "HTTPAllowed", doc: topDoc("id: t\nname: T\nbaseUrl: http://internal.example:8080/v1"), opts: &ValidateOptions{AllowHTTP: func(h string) bool { return h == "internal.example" }}, paths: nil},
		{name: "HTTPOtherHost", doc: topDoc("id: t\nname: T\nbaseUrl: http://other.example:8080/v1"), opts: &ValidateOptions{AllowHTTP: func(h string) bool { return h == "internal.example" }}, paths: []string{"baseUrl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), tt.opts)
			if tt.paths == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c == nil {
					t.Fatal("nil connector")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want problems at %q", tt.paths)
			}
			if code := patchbay.ErrorCode(err); code != patchbay.EInvalid {
				t.Fatalf("code = %s, want %s (%v)", code, patchbay.EInvalid, err)
			}
			d := patchbay.ErrorDetails(err)
			errs, _ := d["errors"].([]FieldError)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.paths, got); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s\nerrors: %+v", diff, errs)
			}
			if d["field"] != tt.paths[0] {
				t.Errorf("details.field = %v, want %q", d["field"], tt.paths[0])
			}
			if msg := patchbay.ErrorMessage(err); !strings.Contains(msg, errs[0].Message) {
				t.Errorf("message %q does not name the first problem %q", msg, errs[0].Message)
			}
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	doc := `id: BAD
name: ""
baseUrl: ftp://a.example
resources:
  - id: r
    name: R
    actions:
      - {id: a, name: A, method: FETCH, path: /a}
`
	_, err := Parse([]byte(doc), nil)
	want := []FieldError{
		{Field: "id", Message: "must match ^[a-z0-9][a-z0-9-]{0,47}$"},
		{Field: "name", Message: "is required"},
		{Field: "baseUrl", Message: "must be an absolute https URL"},
		{Field: "resources[0].actions[0].method", Message: "must be GET, POST, PUT, PATCH, DELETE or HEAD"},
	}
	if diff := cmp.Diff(want, patchbay.ErrorDetails(err)["errors"]); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if msg := patchbay.ErrorMessage(err); msg != "Invalid connector definition: id: must match ^[a-z0-9][a-z0-9-]{0,47}$" {
		t.Errorf("message = %q", msg)
	}
}

func TestProblemsErrorCapsAt50(t *testing.T) {
	var ps []Problem
	for i := range 60 {
		ps = append(ps, Problem{Path: indexPath("categories", i), Message: "bad"})
	}
	e := ProblemsError(ps)
	if n := len(e.Details["errors"].([]FieldError)); n != 50 {
		t.Errorf("len(errors) = %d, want 50", n)
	}
	if e.Details["field"] != "categories[0]" || e.Code != patchbay.EInvalid {
		t.Errorf("error = %+v", e)
	}
	if ProblemsError(nil) != nil {
		t.Error("ProblemsError(nil) != nil")
	}
}

func TestParseYAMLAliasBomb(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		doc += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	_, err := Parse([]byte(doc), nil)
	if err == nil || !strings.Contains(patchbay.ErrorMessage(err), "too large") {
		t.Fatalf("err = %v, want a size refusal", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readExample(f))
	f.Add([]byte(`{"id":"x","name":"X","baseUrl":"https://a.example","resources":[{"id":"r","name":"R","actions":[{"id":"a","name":"A","method":"GET","path":"/a/{b}","parameters":{"type":"object","properties":{"b":{"type":"string"}},"required":["b"]}}]}]}`))
	f.Add([]byte("id: x\nname: X\ntype: mcp\nurl: https://m.example/mcp\n"))
	f.Add([]byte("a: &a [1]\nb: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil)
		if err != nil {
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("code %s for %v", patchbay.ErrorCode(err), err)
			}
			return
		}
		if _, err := Compile(c); err != nil {
			t.Fatalf("Parse accepted what Compile refuses: %v", err)
		}
	})
}
