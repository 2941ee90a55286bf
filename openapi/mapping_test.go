package openapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

// TestMapping pins the rules of §11.5, one row per rule. Each row imports a
// small document and compares every action and every warning.
func TestMapping(t *testing.T) {
	tests := []struct {
		name     string
		doc      []byte
		want     []actionView
		warnings []string
	}{
		{
			name: "OperationIDNormalizationAndDedupe",
			doc: doc30(`paths:
  /a:
    get: {operationId: get-user, summary: One, responses: {'200': {description: ok}}}
    post: {operationId: 2fa.enable, responses: {'200': {description: ok}}}
  /b:
    get: {operationId: List, responses: {'200': {description: ok}}}
    put: {operationId: list, responses: {'200': {description: ok}}}
    delete: {operationId: LIST, responses: {'200': {description: ok}}}
`),
			want: []actionView{
				{Resource: "a", ID: "get_user", Name: "One", Description: "One", Method: "GET", Path: "/a", Params: map[string]any{"type": "object"}},
				{Resource: "a", ID: "op_2fa_enable", Name: "2fa.enable", Method: "POST", Path: "/a", Params: map[string]any{"type": "object"}},
				{Resource: "b", ID: "List", Name: "List", Method: "GET", Path: "/b", Params: map[string]any{"type": "object"}},
				{Resource: "b", ID: "list_2", Name: "list", Method: "PUT", Path: "/b", Params: map[string]any{"type": "object"}},
				{Resource: "b", ID: "LIST_3", Name: "LIST", Method: "DELETE", Path: "/b", Params: map[string]any{"type": "object"}},
			},
		},
		{
			name: "MissingOperationID",
			doc: doc30(`paths:
  /contacts/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
  /contacts:
    get: {description: Lists contacts, responses: {'200': {description: ok}}}
`),
			want: []actionView{
				{Resource: "contacts", ID: "get_contacts_id", Name: "GET /contacts/{id}", Method: "GET", Path: "/contacts/{id}",
					Params: js(t, `{"type":"object","properties":{"id":{"type":"string","x-in":"path"}},"required":["id"]}`)},
				{Resource: "contacts", ID: "get_contacts", Name: "GET /contacts", Description: "Lists contacts", Method: "GET", Path: "/contacts",
					Params: map[string]any{"type": "object"}},
			},
		},
		{
			name: "ResourcesFromTagsAndSegments",
			doc: doc30(`tags:
  - {name: (beta) Users, description: People who sign in}
paths:
  /users:
    get: {operationId: listUsers, tags: [(beta) Users, Other], responses: {'200': {description: ok}}}
  /user-accounts/{id}:
    get: {operationId: getAccount, parameters: [{name: id, in: path, required: true}], responses: {'200': {description: ok}}}
  /{tenant}/things:
    get: {operationId: listThings, parameters: [{name: tenant, in: path, required: true}], responses: {'200': {description: ok}}}
  /:
    get: {operationId: root, tags: [''], responses: {'200': {description: ok}}}
`),
			want: []actionView{
				{Resource: "beta_users", ID: "listUsers", Name: "listUsers", Method: "GET", Path: "/users", Params: map[string]any{"type": "object"}},
				{Resource: "user_accounts", ID: "getAccount", Name: "getAccount", Method: "GET", Path: "/user-accounts/{id}",
					Params: js(t, `{"type":"object","properties":{"id":{"type":"string","x-in":"path"}},"required":["id"]}`)},
				{Resource: "default", ID: "listThings", Name: "listThings", Method: "GET", Path: "/{tenant}/things",
					Params: js(t, `{"type":"object","properties":{"tenant":{"type":"string","x-in":"path"}},"required":["tenant"]}`)},
				{Resource: "default", ID: "root", Name: "root", Method: "GET", Path: "/", Params: map[string]any{"type": "object"}},
			},
		},
		{
			name: "ParameterMergeOperationWins",
			doc: doc30(`paths:
  /items/{id}:
    parameters:
      - {name: id, in: path, required: true, description: Item id, schema: {type: string}}
      - {name: limit, in: query, description: From the path item, schema: {type: integer}}
      - {name: limit, in: header, description: Same name elsewhere, schema: {type: string}}
    get:
      operationId: getItem
      parameters:
        - {name: limit, in: query, required: true, description: From the operation, schema: {type: integer, maximum: 50}}
        - {name: q, in: query, schema: {type: string}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "items", ID: "getItem", Name: "getItem", Method: "GET", Path: "/items/{id}", Params: js(t, `{
				"type":"object",
				"properties":{
					"id":{"type":"string","description":"Item id","x-in":"path"},
					"limit":{"type":"integer","maximum":50,"description":"From the operation","x-in":"query"},
					"q":{"type":"string","x-in":"query"},
					"header_limit":{"type":"string","description":"Same name elsewhere","x-in":"header","x-name":"limit"}
				},
				"required":["id","limit"]}`)}},
		},
		{
			name: "NameClashRenaming",
			doc: doc30(`paths:
  /things/{id}:
    put:
      operationId: putThing
      parameters:
        - {name: id, in: header, schema: {type: string}}
        - {name: id, in: query, schema: {type: string}}
        - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [id, name]
              properties:
                name: {type: string}
                id: {type: integer}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "things", ID: "putThing", Name: "putThing", Method: "PUT", Path: "/things/{id}", Params: js(t, `{
				"type":"object",
				"properties":{
					"id":{"type":"string","x-in":"path"},
					"query_id":{"type":"string","x-in":"query","x-name":"id"},
					"header_id":{"type":"string","x-in":"header","x-name":"id"},
					"name":{"type":"string","x-in":"body"},
					"body_id":{"type":"integer","x-in":"body","x-name":"id"}
				},
				"required":["id","name","body_id"]}`)}},
		},
		{
			name: "OptionalBodyDropsRequired",
			doc: doc30(`paths:
  /notes:
    post:
      operationId: addNote
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [text], properties: {text: {type: string, description: Body text}}}
      responses: {'201': {description: ok}}
`),
			want: []actionView{{Resource: "notes", ID: "addNote", Name: "addNote", Method: "POST", Path: "/notes",
				Params: js(t, `{"type":"object","properties":{"text":{"type":"string","description":"Body text","x-in":"body"}}}`)}},
		},
		{
			name: "FormBody",
			doc: doc30(`paths:
  /tokens:
    post:
      operationId: token
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, properties: {file: {type: string, format: binary}}}
          application/x-www-form-urlencoded:
            schema: {type: object, required: [grant_type], properties: {grant_type: {type: string, enum: [client_credentials]}, scope: {type: string}}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "tokens", ID: "token", Name: "token", Method: "POST", Path: "/tokens", BodyEncoding: "form", Params: js(t, `{
				"type":"object",
				"properties":{
					"grant_type":{"type":"string","enum":["client_credentials"],"x-in":"body"},
					"scope":{"type":"string","x-in":"body"}
				},
				"required":["grant_type"]}`)}},
		},
		{
			name: "JSONPreferredOverForm",
			doc: doc30(`paths:
  /t:
    post:
      operationId: t
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {a: {type: string}}}
          application/json; charset=utf-8:
            schema: {type: object, properties: {b: {type: string}}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "t", ID: "t", Name: "t", Method: "POST", Path: "/t",
				Params: js(t, `{"type":"object","properties":{"b":{"type":"string","x-in":"body"}}}`)}},
		},
		{
			name: "SchemalessAndWildcardBodies",
			doc: doc30(`paths:
  /bare:
    post:
      operationId: bare
      requestBody: {content: {application/json: null}}
      responses: {'200': {description: ok}}
  /any:
    post:
      operationId: any
      requestBody: {required: true, content: {'*/*': {schema: {type: object, properties: {c: {type: integer}}}}}}
      responses: {'200': {description: ok, content: {'*/*': {schema: {type: object, properties: {rows: {type: array}}}}}}}
  /formwins:
    post:
      operationId: formwins
      requestBody:
        content:
          '*/*': {schema: {type: object, properties: {w: {type: string}}}}
          application/x-www-form-urlencoded: {schema: {type: object, properties: {f: {type: string}}}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{
				{Resource: "bare", ID: "bare", Name: "bare", Method: "POST", Path: "/bare",
					Params: js(t, `{"type":"object","properties":{"body":{"x-in":"body","x-body-root":true}}}`)},
				{Resource: "any", ID: "any", Name: "any", Method: "POST", Path: "/any", ItemsPath: "rows",
					Params: js(t, `{"type":"object","properties":{"c":{"type":"integer","x-in":"body"}}}`)},
				{Resource: "formwins", ID: "formwins", Name: "formwins", Method: "POST", Path: "/formwins", BodyEncoding: "form",
					Params: js(t, `{"type":"object","properties":{"f":{"type":"string","x-in":"body"}}}`)},
			},
		},
		{
			name: "NonObjectBodyRoot",
			doc: doc30(`paths:
  /batch/{id}:
    patch:
      operationId: patchBatch
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      requestBody:
        required: true
        description: JSON Patch operations
        content:
          application/json-patch+json:
            schema:
              type: array
              items: {type: object, properties: {op: {type: string}, path: {type: string}}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "batch", ID: "patchBatch", Name: "patchBatch", Method: "PATCH", Path: "/batch/{id}", Params: js(t, `{
				"type":"object",
				"properties":{
					"id":{"type":"string","x-in":"path"},
					"body":{"type":"array","items":{"type":"object","properties":{"op":{"type":"string"},"path":{"type":"string"}}},
						"description":"JSON Patch operations","x-in":"body","x-body-root":true}
				},
				"required":["id","body"]}`)}},
		},
		{
			name: "UnionBodyIsBodyRoot",
			doc: doc30(`paths:
  /u:
    post:
      operationId: u
      requestBody:
        content:
          application/json:
            schema:
              oneOf:
                - $ref: '#/components/schemas/Cat'
                - {type: object, title: Dog, properties: {barks: {type: boolean}}}
      responses: {'200': {description: ok}}
components:
  schemas:
    Cat: {type: object, properties: {meows: {type: boolean}}}
`),
			want: []actionView{{Resource: "u", ID: "u", Name: "u", Method: "POST", Path: "/u", Params: js(t, `{
				"type":"object",
				"properties":{"body":{"oneOf":[
					{"title":"Cat","type":"object","properties":{"meows":{"type":"boolean"}}},
					{"title":"Dog","type":"object","properties":{"barks":{"type":"boolean"}}}
				],"x-in":"body","x-body-root":true}}}`)}},
		},
		{
			name: "AllOfBodyFlattenedReadOnlyDropped",
			doc: doc30(`paths:
  /pets:
    post:
      operationId: addPet
      requestBody:
        required: true
        content:
          application/json:
            schema:
              allOf:
                - $ref: '#/components/schemas/NewPet'
                - {type: object, required: [id], properties: {id: {type: integer, readOnly: true}, owner: {$ref: '#/components/schemas/Owner'}}}
      responses: {'200': {description: ok}}
components:
  schemas:
    NewPet: {type: object, required: [name], properties: {name: {type: string}, tag: {type: string, nullable: true, enum: [a, b]}}}
    Owner: {type: object, required: [id, email], properties: {id: {type: string, readOnly: true}, email: {type: string}}}
`),
			want: []actionView{{Resource: "pets", ID: "addPet", Name: "addPet", Method: "POST", Path: "/pets", Params: js(t, `{
				"type":"object",
				"properties":{
					"name":{"type":"string","x-in":"body"},
					"tag":{"type":["string","null"],"enum":["a","b",null],"x-in":"body"},
					"owner":{"type":"object","properties":{"email":{"type":"string"}},"required":["email"],"x-in":"body"}
				},
				"required":["name"]}`)}},
		},
		{
			name: "ItemsPath",
			doc: doc30(`paths:
  /one:
    get:
      operationId: one
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object, properties: {data: {type: array, items: {}}, next: {type: string}}}}}}
  /two:
    get:
      operationId: two
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object, properties: {a: {type: array}, b: {type: array}}}}}}
  /arr:
    get:
      operationId: arr
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: array, items: {type: object, properties: {x: {type: array}}}}}}}
  /created:
    post:
      operationId: created
      responses:
        '202': {description: ok, content: {application/json: {schema: {type: object, properties: {nope: {type: array}}}}}}
        '201': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Page'}}}}
  /override:
    get:
      operationId: override
      x-patchbay-items-path: result.items
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object, properties: {data: {type: array}}}}}}
  /empty:
    get:
      operationId: empty
      x-patchbay-items-path: ''
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object, properties: {data: {type: array}}}}}}
  /bad:
    get:
      operationId: bad
      x-patchbay-items-path: .data
      responses: {'200': {description: ok}}
  /dotted:
    get:
      operationId: dotted
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object, properties: {a.b: {type: array}}}}}}
  /wrapped:
    get:
      operationId: wrapped
      responses:
        '200': {description: ok, content: {application/vnd.api+json: {schema: {allOf: [{$ref: '#/components/schemas/Page'}, {type: object, properties: {total: {type: integer}}}]}}}}
components:
  schemas:
    Page: {type: object, properties: {entries: {allOf: [{type: array, items: {type: string}}], description: The page}}}
`),
			want: []actionView{
				{Resource: "one", ID: "one", Name: "one", Method: "GET", Path: "/one", Params: map[string]any{"type": "object"}, ItemsPath: "data"},
				{Resource: "two", ID: "two", Name: "two", Method: "GET", Path: "/two", Params: map[string]any{"type": "object"}},
				{Resource: "arr", ID: "arr", Name: "arr", Method: "GET", Path: "/arr", Params: map[string]any{"type": "object"}},
				{Resource: "created", ID: "created", Name: "created", Method: "POST", Path: "/created", Params: map[string]any{"type": "object"}, ItemsPath: "entries"},
				{Resource: "override", ID: "override", Name: "override", Method: "GET", Path: "/override", Params: map[string]any{"type": "object"}, ItemsPath: "result.items"},
				{Resource: "empty", ID: "empty", Name: "empty", Method: "GET", Path: "/empty", Params: map[string]any{"type": "object"}},
				{Resource: "bad", ID: "bad", Name: "bad", Method: "GET", Path: "/bad", Params: map[string]any{"type": "object"}},
				{Resource: "dotted", ID: "dotted", Name: "dotted", Method: "GET", Path: "/dotted", Params: map[string]any{"type": "object"}},
				{Resource: "wrapped", ID: "wrapped", Name: "wrapped", Method: "GET", Path: "/wrapped", Params: map[string]any{"type": "object"}, ItemsPath: "entries"},
			},
			warnings: []string{`operation GET /bad: x-patchbay-items-path ".data" ignored: not a dot path`},
		},
		{
			name: "ReadOnlyOverride",
			doc: doc30(`paths:
  /search:
    post: {operationId: search, x-patchbay-read-only: true, responses: {'200': {description: ok}}}
    get: {operationId: touch, x-patchbay-read-only: false, responses: {'200': {description: ok}}}
    put: {operationId: bad, x-patchbay-read-only: 'yes', responses: {'200': {description: ok}}}
`),
			want: []actionView{
				// Document order: post, get, put as written.
				{Resource: "search", ID: "search", Name: "search", Method: "POST", Path: "/search", Params: map[string]any{"type": "object"}, ReadOnly: patchbay.Bool(true)},
				{Resource: "search", ID: "touch", Name: "touch", Method: "GET", Path: "/search", Params: map[string]any{"type": "object"}, ReadOnly: patchbay.Bool(false)},
				{Resource: "search", ID: "bad", Name: "bad", Method: "PUT", Path: "/search", Params: map[string]any{"type": "object"}},
			},
			warnings: []string{"operation PUT /search: x-patchbay-read-only ignored: not a boolean"},
		},
		{
			name: "SkippedOperationsAndParameters",
			doc: doc30(`paths:
  /export:
    post:
      operationId: export
      requestBody: {content: {text/csv: {schema: {type: string}}}}
      responses: {'200': {description: ok}}
    options: {operationId: preflight, responses: {'200': {description: ok}}}
  /upload:
    put:
      operationId: upload
      requestBody: {content: {application/octet-stream: {}, multipart/form-data: {}}}
      responses: {'200': {description: ok}}
  /session:
    get:
      operationId: session
      parameters:
        - {name: sid, in: cookie, schema: {type: string}}
        - {name: Authorization, in: header, schema: {type: string}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: filter, in: query, style: deepObject, schema: {type: object, properties: {a: {type: string}}}}
      responses: {'200': {description: ok}}
  /strict:
    get:
      operationId: strict
      parameters: [{name: filter, in: query, required: true, style: deepObject, schema: {type: object}}]
      responses: {'200': {description: ok}}
`),
			want: []actionView{
				{Resource: "session", ID: "session", Name: "session", Method: "GET", Path: "/session",
					Params: js(t, `{"type":"object","properties":{"X-Trace":{"type":"string","x-in":"header"}}}`)},
			},
			warnings: []string{
				"operation POST /export skipped: unsupported request content type text/csv",
				"operation OPTIONS /export skipped: OPTIONS operations are not supported",
				"operation PUT /upload skipped: unsupported request content types application/octet-stream, multipart/form-data",
				"operation GET /session: query parameter filter skipped: it has an object schema, which query parameters cannot carry",
				"operation GET /session: header parameter Authorization skipped: Patchbay sets this header",
				"operation GET /session: cookie parameter sid skipped",
				"operation GET /strict skipped: required query parameter filter has an object schema, which query parameters cannot carry",
			},
		},
		{
			name: "QueryArrays",
			doc: doc30(`paths:
  /files:
    get:
      operationId: files
      parameters:
        - {name: ids, in: query, schema: {type: array, items: {type: integer}}}
        - {name: fields, in: query, explode: false, description: Fields to return., schema: {type: array, items: {type: string, enum: [id, name]}}}
        - {name: tags, in: query, style: pipeDelimited, schema: {type: array, items: {type: string}}}
        - {name: either, in: query, schema: {oneOf: [{type: string}, {type: array, items: {type: [string, 'null']}}]}}
        - {name: X-Count, in: header, schema: {type: integer, default: 5}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "files", ID: "files", Name: "files", Method: "GET", Path: "/files", Params: js(t, `{
				"type":"object",
				"properties":{
					"ids":{"type":"array","items":{"type":"integer"},"x-in":"query"},
					"fields":{"type":"string","description":"Fields to return. Comma-separated list of id, name.","x-in":"query"},
					"tags":{"type":"string","description":"Pipe-separated list.","x-in":"query"},
					"either":{"type":"array","items":{"type":"string"},"x-in":"query"},
					"X-Count":{"type":"string","default":"5","pattern":"^-?[0-9]+$","x-in":"header"}
				}}`)}},
		},
		{
			name: "PathPlaceholders",
			doc: doc30(`paths:
  /orgs/{org}/repos/{repo}:
    get:
      operationId: getRepo
      parameters:
        - {name: repo, in: path, required: true, schema: {type: string}}
        - {name: stale, in: path, required: true, schema: {type: string}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "orgs", ID: "getRepo", Name: "getRepo", Method: "GET", Path: "/orgs/{org}/repos/{repo}", Params: js(t, `{
				"type":"object",
				"properties":{"org":{"type":"string","x-in":"path"},"repo":{"type":"string","x-in":"path"}},
				"required":["org","repo"]}`)}},
			warnings: []string{
				"operation GET /orgs/{org}/repos/{repo}: path parameter stale skipped: not in the path",
				"operation GET /orgs/{org}/repos/{repo}: path parameter org is not declared; added as a string",
			},
		},
		{
			name: "BodyOnGET",
			doc: doc30(`paths:
  /q:
    get:
      operationId: q
      requestBody: {content: {application/json: {schema: {type: object, properties: {a: {type: string}}}}}}
      responses: {'200': {description: ok}}
  /r:
    get:
      operationId: r
      requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {a: {type: string}}}}}}
      responses: {'200': {description: ok}}
`),
			want: []actionView{{Resource: "q", ID: "q", Name: "q", Method: "GET", Path: "/q", Params: map[string]any{"type": "object"}}},
			warnings: []string{
				"operation GET /q: request body ignored: a GET request cannot carry one",
				"operation GET /r skipped: a GET request cannot carry the required body",
			},
		},
		{
			name: "BoxStylePathFragment",
			doc: doc30(`paths:
  /files/{id}#add_link:
    put:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
  /files/{id}#remove_link:
    put:
      operationId: remove link
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
`),
			want: []actionView{
				{Resource: "files", ID: "put_files_id_add_link", Name: "PUT /files/{id}", Method: "PUT", Path: "/files/{id}",
					Params: js(t, `{"type":"object","properties":{"id":{"type":"string","x-in":"path"}},"required":["id"]}`)},
				{Resource: "files", ID: "remove_link", Name: "remove link", Method: "PUT", Path: "/files/{id}",
					Params: js(t, `{"type":"object","properties":{"id":{"type":"string","x-in":"path"}},"required":["id"]}`)},
			},
		},
		{
			name: "OperationServers",
			doc: []byte(`openapi: 3.0.3
info: {title: T, version: '1'}
servers: [{url: 'https://api.example.com/v1'}, {url: 'https://eu.example.com/v1'}]
paths:
  /same:
    get: {operationId: same, servers: [{url: 'https://eu.example.com/v1/'}], responses: {'200': {description: ok}}}
  /upload:
    servers: [{url: 'https://{host}/v1', variables: {host: {default: upload.example.com}}}]
    post: {operationId: upload, responses: {'200': {description: ok}}}
`),
			want: []actionView{{Resource: "same", ID: "same", Name: "same", Method: "GET", Path: "/same", Params: map[string]any{"type": "object"}}},
			warnings: []string{
				"operation POST /upload skipped: it is served from https://upload.example.com/v1, not from the base URL",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustImport(t, tt.doc, nil)
			if diff := cmp.Diff(tt.want, views(res.Connector)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
