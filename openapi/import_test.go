package openapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

func TestImportErrors(t *testing.T) {
	var many strings.Builder
	many.WriteString(header("3.0.3") + "paths:\n")
	for i := range 1001 {
		fmt.Fprintf(&many, "  /p%d:\n    get: {responses: {'200': {description: ok}}}\n", i)
	}
	tests := []struct {
		name   string
		doc    string
		opts   *Options
		field  string
		reason string
	}{
		{name: "ExternalRefFile", field: "openapi", reason: ReasonExternalRef, doc: header("3.0.3") + `paths:
  /a:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: 'oai-petstore.yaml#/components/schemas/Pet'}}}}}
`},
		{name: "ExternalRefAbsolutePath", field: "openapi", reason: ReasonExternalRef, doc: header("3.1.0") + `paths:
  /a:
    get:
      parameters: [{$ref: '/etc/passwd#/x'}]
      responses: {'200': {description: ok}}
`},
		{name: "RelativeServer", field: "baseUrl", reason: ReasonRelativeServerURL,
			doc: "openapi: 3.0.0\ninfo: {title: T, version: '1'}\nservers: [{url: /v1}]\npaths: {/a: {get: {responses: {'200': {description: ok}}}}}\n"},
		{name: "NoServers", field: "baseUrl", reason: ReasonRelativeServerURL,
			doc: "openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths: {/a: {get: {responses: {'200': {description: ok}}}}}\n"},
		{name: "TooManyOperations", field: "openapi", reason: ReasonTooManyOperations, doc: many.String()},
		{name: "NotYAML", field: "openapi", reason: ReasonInvalidDocument, doc: "openapi: [3.0\n  : :"},
		{name: "UnresolvedRef", field: "openapi", reason: ReasonInvalidDocument, doc: header("3.0.3") + `paths:
  /a:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Missing'}}}}}
`},
		{name: "NotOpenAPI", field: "openapi", reason: ReasonUnsupportedVersion, doc: `{"hello": "world"}`},
		{name: "Version32", field: "openapi", reason: ReasonUnsupportedVersion,
			doc: "openapi: 3.2.0\ninfo: {title: T, version: '1'}\nservers: [{url: 'https://a.example'}]\npaths: {}\n"},
		{name: "Swagger12", field: "openapi", reason: ReasonUnsupportedVersion, doc: `{"swagger": "1.2", "info": {"title": "T", "version": "1"}, "paths": {}}`},
		{name: "NoOperations", field: "openapi", reason: ReasonNoOperations, doc: header("3.0.3") + "paths: {/a: {options: {responses: {'200': {description: ok}}}}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Import([]byte(tt.doc), tt.opts)
			if err == nil {
				t.Fatalf("Import succeeded with %d actions; want an error", res.Connector.ActionCount())
			}
			if code := patchbay.ErrorCode(err); code != patchbay.EInvalid {
				t.Fatalf("code %s, want %s (%v)", code, patchbay.EInvalid, err)
			}
			d := patchbay.ErrorDetails(err)
			if d["field"] != tt.field || d["reason"] != tt.reason {
				t.Errorf("details %v, want field %q reason %q (%v)", d, tt.field, tt.reason, err)
			}
		})
	}
}

// TestImportNeverFetches points $refs at a live loopback server and at a
// real file: the import must fail without reading either.
func TestImportNeverFetches(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"type":"string"}`))
	}))
	defer srv.Close()
	for _, ref := range []string{srv.URL + "/schema.json", corpusDir + "/oai-petstore.yaml#/components/schemas/Pet", "file:///etc/hostname"} {
		t.Run(ref, func(t *testing.T) {
			doc := doc31(`paths:
  /a:
    post:
      requestBody: {content: {application/json: {schema: {$ref: '` + ref + `'}}}}
      responses: {'200': {description: ok}}
`)
			_, err := Import(doc, nil)
			if patchbay.ErrorDetails(err)["reason"] != ReasonExternalRef {
				t.Errorf("err = %v, want reason %s", err, ReasonExternalRef)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the import fetched %d times", n)
	}
}

func TestImportConnectorFields(t *testing.T) {
	longTitle := strings.Repeat("Ä", 120)
	tests := []struct {
		name     string
		doc      string
		opts     *Options
		want     patchbay.Connector
		warnings []string
	}{
		{
			name: "FromDocument",
			doc: `openapi: 3.0.0
info: {title: '  Acme CRM (v2)', description: "  Contacts\n  and deals  ", version: '1'}
servers:
  - url: 'https://{region}.acme.example:{port}/v2/'
    variables: {region: {default: eu, enum: [eu, us]}, port: {default: '8443'}}
paths: {/a: {get: {operationId: a, responses: {'200': {description: ok}}}}}
`,
			want: patchbay.Connector{ID: "acme-crm-v2", Name: "Acme CRM (v2)", Description: "Contacts\n  and deals", Type: "rest",
				BaseURL: "https://eu.acme.example:8443/v2"},
		},
		{
			name: "OptionsWin",
			doc: `openapi: 3.0.0
info: {title: Acme, version: '1'}
servers: [{url: /relative}]
paths: {/a: {get: {operationId: a, responses: {'200': {description: ok}}}}}
`,
			opts: &Options{ID: "my-acme", Name: "My Acme", BaseURL: "https://acme.example/api/", Categories: []string{"crm"}},
			want: patchbay.Connector{ID: "my-acme", Name: "My Acme", Type: "rest", BaseURL: "https://acme.example/api", Categories: []string{"crm"}},
		},
		{
			name: "HTTPUpgradedAndCut",
			doc: "openapi: 3.0.0\ninfo: {title: '" + longTitle + "', description: '" + strings.Repeat("d", 2100) + "', version: '1'}\n" +
				"servers: [{url: 'http://api.example.com/v1'}]\npaths: {/a: {get: {operationId: a, responses: {'200': {description: ok}}}}}\n",
			want: patchbay.Connector{ID: "server", Name: strings.Repeat("Ä", 100), Description: strings.Repeat("d", 2000), Type: "rest",
				BaseURL: "https://api.example.com/v1"},
			warnings: []string{"server URL http://api.example.com/v1 uses http; baseUrl set to https://api.example.com/v1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustImport(t, []byte(tt.doc), tt.opts)
			got := *res.Connector
			got.Resources = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("connector (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportResourceDescription(t *testing.T) {
	res := mustImport(t, doc30(`tags: [{name: Pets, description: Animals for sale}]
paths:
  /pets: {get: {operationId: list, tags: [Pets], responses: {'200': {description: ok}}}}
  /pets/{id}: {delete: {operationId: del, tags: [pets], parameters: [{name: id, in: path, required: true}], responses: {'204': {description: ok}}}}
`), nil)
	want := []patchbay.Resource{{ID: "pets", Name: "Pets", Description: "Animals for sale"}}
	got := res.Connector.Resources
	for i := range got {
		got[i].Actions = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}

func TestImportSwagger2(t *testing.T) {
	doc := `swagger: "2.0"
info: {title: Legacy, version: "1"}
host: legacy.example.com
basePath: /api
schemes: [https]
consumes: [application/json]
paths:
  /items/{id}:
    put:
      operationId: putItem
      parameters:
        - {name: id, in: path, required: true, type: string}
        - {name: tags, in: query, type: array, items: {type: string}, collectionFormat: csv}
        - {name: body, in: body, required: true, schema: {$ref: '#/definitions/Item'}}
      responses: {"200": {description: ok, schema: {$ref: '#/definitions/Page'}}}
  /login:
    post:
      operationId: login
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: user, in: formData, required: true, type: string}
        - {name: remember, in: formData, type: boolean}
      responses: {"200": {description: ok}}
securityDefinitions:
  key: {type: apiKey, in: header, name: X-Key}
definitions:
  Item: {type: object, required: [name], properties: {name: {type: string}}}
  Page: {type: object, properties: {items: {type: array, items: {$ref: '#/definitions/Item'}}}}
`
	res := mustImport(t, []byte(doc), nil)
	c := res.Connector
	if c.BaseURL != "https://legacy.example.com/api" {
		t.Errorf("baseUrl %q", c.BaseURL)
	}
	if diff := cmp.Diff([]patchbay.AuthScheme{{Type: "apiKey", In: "header", Name: "X-Key"}}, c.Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	want := []actionView{
		{Resource: "items", ID: "putItem", Name: "putItem", Method: "PUT", Path: "/items/{id}", ItemsPath: "items", Params: js(t, `{
			"type":"object",
			"properties":{
				"id":{"type":"string","x-in":"path"},
				"tags":{"type":"string","description":"Comma-separated list.","x-in":"query"},
				"name":{"type":"string","x-in":"body"}
			},
			"required":["id","name"]}`)},
		{Resource: "login", ID: "login", Name: "login", Method: "POST", Path: "/login", BodyEncoding: "form", Params: js(t, `{
			"type":"object",
			"properties":{"user":{"type":"string","x-in":"body"},"remember":{"type":"boolean","x-in":"body"}},
			"required":["user"]}`)},
	}
	if diff := cmp.Diff(want, views(c)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}
