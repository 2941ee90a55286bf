package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Acceptance tests of the connector management endpoints (§11.4-§11.6,
// §15 save-time checks), against the whole program over HTTP.

// listAll pages through GET /api/connectors with the query q.
func (ts *testServer) listAllConnectors(q string, headers ...string) []map[string]any {
	ts.t.Helper()
	var out []map[string]any
	for offset := 0; ; {
		r := ts.call("GET", "/api/connectors?limit=200&offset="+itoa(offset)+q, nil, headers...).want(ts.t, http.StatusOK)
		page := r.list("connectors")
		out = append(out, page...)
		offset += len(page)
		if r.JSON["hasMore"] != true {
			return out
		}
	}
}

func idsOf(items []map[string]any, key string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it[key].(string))
	}
	return out
}

func TestAPIConnectorsList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	acme := ts.newAccount("acme")
	base := "https://api.example.com"
	zeta := connectorDef("zeta-crm", "Zeta CRM", base)
	zeta["categories"] = []string{"crm", "sales"}
	zeta["description"] = "Contacts of the zeta team"
	ts.createConnector(zeta)
	alpha := connectorDef("alpha-tools", "Alpha Tools", base)
	alpha["categories"] = []string{"devtools"}
	ts.createConnector(alpha)
	ts.createConnector(connectorDef("acme-only", "Acme Only", base), bearer(acme)...)

	all := ts.listAllConnectors("")
	got := idsOf(all, "id")
	if !sort.StringsAreSorted(got) {
		t.Fatalf("not sorted by id: %v", got)
	}
	bySource := map[string][]string{}
	for _, c := range all {
		bySource[c["source"].(string)] = append(bySource[c["source"].(string)], c["id"].(string))
	}
	nBuiltin := len(bySource["builtin"])
	if nBuiltin == 0 || !cmp.Equal(bySource["custom"], []string{"alpha-tools", "zeta-crm"}) {
		t.Fatalf("sources: %v", bySource)
	}
	r := ts.call("GET", "/api/connectors", nil).want(t, http.StatusOK)
	if r.num("count") != float64(len(all)) || r.num("limit") != 50 || r.num("offset") != 0 || (len(all) > 50) != (r.JSON["hasMore"] == true) {
		t.Fatalf("defaults: count %v limit %v offset %v hasMore %v (total %d)", r.JSON["count"], r.JSON["limit"], r.JSON["offset"], r.JSON["hasMore"], len(all))
	}
	// The summary item, exactly.
	var z map[string]any
	for _, c := range all {
		if c["id"] == "zeta-crm" {
			z = c
		}
	}
	want := map[string]any{"id": "zeta-crm", "name": "Zeta CRM", "description": "Contacts of the zeta team", "categories": []any{"crm", "sales"},
		"type": "rest", "source": "custom", "authenticationTypes": []any{"apiKey", "bearer"}, "actionCount": 4.0}
	if d := cmp.Diff(want, z); d != "" {
		t.Fatalf("summary (-want +got):\n%s", d)
	}
	for _, c := range all {
		if c["source"] == "builtin" && c["type"] != "rest" {
			t.Fatalf("builtin summary %v", c)
		}
	}

	// The other account sees the built-ins and its own connector only.
	acmeIDs := idsOf(ts.listAllConnectors("", bearer(acme)...), "id")
	if strings.Contains(strings.Join(acmeIDs, ","), "zeta-crm") || !strings.Contains(strings.Join(acmeIDs, ","), "acme-only") || len(acmeIDs) != nBuiltin+1 {
		t.Fatalf("acme sees %v", acmeIDs)
	}
	if strings.Contains(strings.Join(got, ","), "acme-only") {
		t.Fatalf("default sees acme's connector: %v", got)
	}
	// Any principal may read.
	user := ts.userKey("reader")
	if n := len(ts.listAllConnectors("", bearer(user)...)); n != len(all) {
		t.Fatalf("user key sees %d connectors, admin %d", n, len(all))
	}

	// Filters.
	filters := []struct {
		name, q string
		check   func(c map[string]any) bool
	}{
		{"category", "&category=crm", func(c map[string]any) bool {
			for _, x := range c["categories"].([]any) {
				if x == "crm" {
					return true
				}
			}
			return false
		}},
		{"query on description", "&query=ZETA+team", func(c map[string]any) bool {
			return strings.Contains(strings.ToLower(c["id"].(string)+" "+c["name"].(string)+" "+c["description"].(string)), "zeta team")
		}},
		{"query on name", "&query=alpha", func(c map[string]any) bool {
			return strings.Contains(strings.ToLower(c["id"].(string)+" "+c["name"].(string)+" "+c["description"].(string)), "alpha")
		}},
		{"category and query", "&category=devtools&query=tools", func(c map[string]any) bool {
			return c["id"] == "alpha-tools" || (strings.Contains(strings.ToLower(c["name"].(string)+c["description"].(string)+c["id"].(string)), "tools") &&
				strings.Contains(strings.Join(func() []string {
					s := []string{}
					for _, x := range c["categories"].([]any) {
						s = append(s, x.(string))
					}
					return s
				}(), ","), "devtools"))
		}},
	}
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			var want []string
			for _, c := range all {
				if f.check(c) {
					want = append(want, c["id"].(string))
				}
			}
			gotF := idsOf(ts.listAllConnectors(f.q), "id")
			if len(want) == 0 || !cmp.Equal(want, gotF) {
				t.Fatalf("filter %s: got %v, want %v", f.q, gotF, want)
			}
			r := ts.call("GET", "/api/connectors?limit=1"+f.q, nil).want(t, http.StatusOK)
			if r.num("count") != float64(len(want)) || (r.JSON["hasMore"] == true) != (len(want) > 1) {
				t.Fatalf("count %v hasMore %v, want %d", r.JSON["count"], r.JSON["hasMore"], len(want))
			}
		})
	}
	if n := len(ts.listAllConnectors("&category=no-such-category")); n != 0 {
		t.Fatalf("unknown category lists %d", n)
	}

	// Pagination: pages of 3 concatenate to the whole list.
	var paged []string
	for offset := 0; ; offset += 3 {
		r := ts.call("GET", "/api/connectors?limit=3&offset="+itoa(offset), nil).want(t, http.StatusOK)
		page := idsOf(r.list("connectors"), "id")
		if r.num("count") != float64(len(all)) || r.num("limit") != 3 || r.num("offset") != float64(offset) {
			t.Fatalf("page at %d: %s", offset, r.Body)
		}
		paged = append(paged, page...)
		if want := offset+len(page) < len(all); (r.JSON["hasMore"] == true) != want {
			t.Fatalf("hasMore at offset %d = %v", offset, r.JSON["hasMore"])
		}
		if r.JSON["hasMore"] != true {
			break
		}
	}
	if d := cmp.Diff(got, paged); d != "" {
		t.Fatalf("pages differ from the list:\n%s", d)
	}
	r = ts.call("GET", "/api/connectors?offset=100000", nil).want(t, http.StatusOK)
	if len(r.list("connectors")) != 0 || r.JSON["hasMore"] != false || r.num("count") != float64(len(all)) {
		t.Fatalf("beyond the end: %s", r.Body)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "offset=-1"} {
		ts.call("GET", "/api/connectors?"+q, nil).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
	}
	if r := ts.call("GET", "/api/connectors?limit=200", nil).want(t, http.StatusOK); r.num("limit") != 200 {
		t.Fatalf("limit 200: %v", r.JSON["limit"])
	}
}

func TestAPIConnectorsGet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	acme := ts.newAccount("acme")
	def := connectorDef("fake-get", "Fake Get", "https://api.example.com/v1")
	r := ts.call("POST", "/api/connectors", def).want(t, http.StatusCreated)
	if r.Header.Get("Location") != "/api/connectors/fake-get" {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if w, ok := r.JSON["warnings"].([]any); !ok || len(w) != 0 {
		t.Fatalf("warnings %v", r.JSON["warnings"])
	}
	created := r.JSON
	g := ts.call("GET", "/api/connectors/fake-get", nil).want(t, http.StatusOK)
	if !reTimestamp.MatchString(g.str("createdAt")) || g.str("createdAt") != g.str("updatedAt") || g.str("source") != "custom" || g.str("type") != "rest" {
		t.Fatalf("get: %s", g.Body)
	}
	// The full definition comes back, with the defaults the contract names
	// for members that were absent.
	for _, k := range []string{"id", "name", "description", "categories", "baseUrl", "auth"} {
		if !jsonEqual(def[k], g.JSON[k]) {
			t.Fatalf("%s: got %v, want %v", k, g.JSON[k], def[k])
		}
	}
	res := g.JSON["resources"].([]any)
	if len(res) != 2 || len(res[0].(map[string]any)["actions"].([]any)) != 3 {
		t.Fatalf("resources %v", res)
	}
	act := res[0].(map[string]any)["actions"].([]any)[1].(map[string]any)
	if act["id"] != "items_get" || act["path"] != "/items/{itemId}" || act["method"] != "GET" {
		t.Fatalf("action %v", act)
	}
	delete(created, "warnings")
	if d := cmp.Diff(created, g.JSON); d != "" {
		t.Fatalf("POST and GET differ (-post +get):\n%s", d)
	}
	if _, ok := g.JSON["warnings"]; ok {
		t.Fatal("GET shows warnings")
	}

	// A built-in: full definition, source builtin.
	list := ts.listAllConnectors("")
	var builtin string
	for _, c := range list {
		if c["source"] == "builtin" {
			builtin = c["id"].(string)
			break
		}
	}
	b := ts.call("GET", "/api/connectors/"+builtin, nil, bearer(ts.userKey("u1"))...).want(t, http.StatusOK)
	if b.str("source") != "builtin" || b.str("id") != builtin || len(b.JSON["resources"].([]any)) == 0 {
		t.Fatalf("builtin get: %s", b.Body)
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		if _, ok := b.JSON[k]; !ok {
			t.Fatalf("builtin lacks %s", k)
		}
	}

	for _, tt := range []struct {
		name, path string
		headers    []string
	}{
		{"unknown", "/api/connectors/no-such-connector", nil},
		{"other account's custom", "/api/connectors/fake-get", bearer(acme)},
		{"invalid id", "/api/connectors/NOT_AN_ID", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts.call("GET", tt.path, nil, tt.headers...).wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
		})
	}
}

const yamlDefinition = `id: yaml-crm
name: YAML CRM
description: Defined in YAML
categories: [crm]
baseUrl: https://{region}.api.yaml-crm.example/v2
auth:
  - type: apiKey
    in: header
    name: X-Api-Key
    fields:
      - {name: region, label: Data region, secret: false, enum: [us, eu]}
resources:
  - id: contacts
    name: Contacts
    actions:
      - id: contacts_list
        name: List contacts
        method: GET
        path: /contacts
        parameters:
          type: object
          properties:
            limit: {type: integer, minimum: 1, maximum: 100, x-in: query}
        response:
          itemsPath: data
      - id: contacts_delete
        name: Delete contact
        method: DELETE
        path: /contacts/{id}
        parameters:
          type: object
          properties:
            id: {type: string, x-in: path}
          required: [id]
`

func TestAPIConnectorsCreateForms(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, ct := range []string{"application/yaml", "application/x-yaml; charset=utf-8"} {
		t.Run("yaml "+ct, func(t *testing.T) {
			id := "yaml-crm"
			if strings.HasPrefix(ct, "application/x-yaml") {
				id = "yaml-crm-x"
			}
			r := ts.call("POST", "/api/connectors", strings.Replace(yamlDefinition, "id: yaml-crm", "id: "+id, 1), "Content-Type", ct).
				want(t, http.StatusCreated)
			if r.str("id") != id || r.str("baseUrl") != "https://{region}.api.yaml-crm.example/v2" || r.str("source") != "custom" {
				t.Fatalf("yaml create: %s", r.Body)
			}
			acts := r.JSON["resources"].([]any)[0].(map[string]any)["actions"].([]any)
			if len(acts) != 2 || acts[1].(map[string]any)["path"] != "/contacts/{id}" {
				t.Fatalf("actions %v", acts)
			}
			// Member order of parameter schemas and the x- keywords survive.
			params, _ := json.Marshal(acts[0].(map[string]any)["parameters"])
			if !strings.Contains(string(params), `"x-in":"query"`) {
				t.Fatalf("parameters %s", params)
			}
		})
	}
	t.Run("yaml put", func(t *testing.T) {
		r := ts.call("PUT", "/api/connectors/yaml-crm", strings.Replace(yamlDefinition, "name: YAML CRM", "name: YAML CRM v2", 1), "Content-Type", "application/yaml").
			want(t, http.StatusOK)
		if r.str("name") != "YAML CRM v2" || ts.call("GET", "/api/connectors/yaml-crm", nil).str("name") != "YAML CRM v2" {
			t.Fatalf("PUT yaml: %s", r.Body)
		}
	})
	t.Run("yaml invalid", func(t *testing.T) {
		ts.call("POST", "/api/connectors", "id: [unclosed", "Content-Type", "application/yaml").wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		// YAML sent as JSON is not JSON.
		ts.call("POST", "/api/connectors", yamlDefinition, "Content-Type", "application/json").wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
	})

	t.Run("openapi as string", func(t *testing.T) {
		doc := testdataOpenAPI(t, "oai-petstore.yaml")
		// The document's server is http (not allowlisted). The contract is
		// silent; the importer upgrades it to https and says so.
		r := ts.call("POST", "/api/connectors", map[string]any{"openapi": string(doc), "id": "petstore-upgraded"}).want(t, http.StatusCreated)
		if w, _ := r.JSON["warnings"].([]any); r.str("baseUrl") != "https://petstore.swagger.io/v1" || len(w) == 0 {
			t.Fatalf("http server URL: %s", r.Body)
		}
		r = ts.call("POST", "/api/connectors", map[string]any{"openapi": string(doc), "baseUrl": "https://petstore.example.com/v1",
			"categories": []string{"pets"}}).want(t, http.StatusCreated)
		if r.str("id") != "swagger-petstore" || r.str("name") != "Swagger Petstore" || r.str("baseUrl") != "https://petstore.example.com/v1" ||
			!jsonEqual(r.JSON["categories"], []string{"pets"}) {
			t.Fatalf("petstore: %s", r.Body)
		}
		if _, ok := r.JSON["warnings"].([]any); !ok {
			t.Fatalf("warnings %v", r.JSON["warnings"])
		}
		var actions []string
		for _, res := range r.JSON["resources"].([]any) {
			for _, a := range res.(map[string]any)["actions"].([]any) {
				actions = append(actions, res.(map[string]any)["id"].(string)+"."+a.(map[string]any)["id"].(string))
			}
		}
		sort.Strings(actions)
		if d := cmp.Diff([]string{"pets.createPets", "pets.listPets", "pets.showPetById"}, actions); d != "" {
			t.Fatalf("actions (-want +got):\n%s", d)
		}
		g := ts.call("GET", "/api/connectors/swagger-petstore", nil).want(t, http.StatusOK)
		if g.str("source") != "custom" {
			t.Fatalf("get: %s", g.Body)
		}
	})
	t.Run("openapi as object", func(t *testing.T) {
		var doc any
		if err := json.Unmarshal(testdataOpenAPI(t, "notion-api.json"), &doc); err != nil {
			t.Fatal(err)
		}
		r := ts.call("POST", "/api/connectors", map[string]any{"openapi": doc, "name": "Notion (imported)"}).want(t, http.StatusCreated)
		if r.str("id") != "notion-api" || r.str("name") != "Notion (imported)" || r.str("baseUrl") != "https://api.notion.com" {
			t.Fatalf("notion: id %q name %q baseUrl %q", r.str("id"), r.str("name"), r.str("baseUrl"))
		}
		types := []string{}
		for _, a := range r.JSON["auth"].([]any) {
			types = append(types, a.(map[string]any)["type"].(string))
		}
		if !strings.Contains(strings.Join(types, ","), "bearer") {
			t.Fatalf("auth types %v", types)
		}
		n := 0
		for _, res := range r.JSON["resources"].([]any) {
			n += len(res.(map[string]any)["actions"].([]any))
		}
		if n < 10 {
			t.Fatalf("only %d actions imported", n)
		}
		// Importing the same document again clashes with the custom connector.
		ts.call("POST", "/api/connectors", map[string]any{"openapi": doc}).wantErr(t, http.StatusConflict, "CONFLICT")
	})
	t.Run("openapi invalid", func(t *testing.T) {
		ts.call("POST", "/api/connectors", map[string]any{"openapi": "not: [an openapi"}).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		ts.call("POST", "/api/connectors", map[string]any{"openapi": map[string]any{"openapi": "3.0.0", "info": map[string]any{"title": "X", "version": "1"},
			"paths": map[string]any{}}}).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
	})

	events, _ := ts.auditEvents("&type=connector.created")
	sources := map[string]string{}
	for _, e := range events {
		sources[e["connectorId"].(string)] = e["details"].(map[string]any)["source"].(string)
	}
	want := map[string]string{"yaml-crm": "definition", "yaml-crm-x": "definition", "petstore-upgraded": "openapi", "swagger-petstore": "openapi", "notion-api": "openapi"}
	if d := cmp.Diff(want, sources); d != "" {
		t.Fatalf("connector.created sources (-want +got):\n%s", d)
	}
}

func TestAPIConnectorsInvalid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.createConnector(connectorDef("taken", "Taken", "https://api.example.com"))
	builtin := ""
	for _, c := range ts.listAllConnectors("") {
		if c["source"] == "builtin" {
			builtin = c["id"].(string)
			break
		}
	}
	mut := func(f func(d map[string]any)) map[string]any {
		d := connectorDef("fresh", "Fresh", "https://api.example.com")
		f(d)
		return d
	}
	action := func(d map[string]any, res, act int) map[string]any {
		return d["resources"].([]any)[res].(map[string]any)["actions"].([]any)[act].(map[string]any)
	}
	oauth := func(field, value string) func(d map[string]any) {
		return func(d map[string]any) {
			s := map[string]any{"type": "oauth2", "authorizationUrl": "https://login.example.com/authorize", "tokenUrl": "https://login.example.com/token", "scopes": []string{"a"}}
			s[field] = value
			d["auth"] = []any{s}
		}
	}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string // details.field
		reason string
		errors int // at least this many details.errors
	}{
		{"missing name", mut(func(d map[string]any) { delete(d, "name") }), 400, "INVALID_REQUEST", "name", "", 1},
		{"bad path deep", mut(func(d map[string]any) { action(d, 1, 0)["path"] = "notes" }), 400, "INVALID_REQUEST", "resources[1].actions[0].path", "", 1},
		{"all problems listed", mut(func(d map[string]any) {
			action(d, 0, 2)["method"] = "FETCH"
			action(d, 1, 0)["path"] = "notes"
			d["categories"] = []string{"Not Valid"}
		}), 400, "INVALID_REQUEST", "", "", 3},
		{"unknown member", mut(func(d map[string]any) { d["colour"] = "blue" }), 400, "INVALID_REQUEST", "", "", 1},
		{"path placeholder without property", mut(func(d map[string]any) { action(d, 0, 0)["path"] = "/items/{missing}" }), 400, "INVALID_REQUEST", "", "", 1},
		{"http base url", mut(func(d map[string]any) { d["baseUrl"] = "http://api.example.com" }), 400, "INVALID_REQUEST", "baseUrl", "", 1},
		{"builtin id", mut(func(d map[string]any) { d["id"] = builtin }), 409, "CONFLICT", "", "", 0},
		{"duplicate custom", mut(func(d map[string]any) { d["id"] = "taken" }), 409, "CONFLICT", "", "", 0},
		{"metadata IP", mut(func(d map[string]any) { d["baseUrl"] = "https://169.254.169.254/latest" }), 400, "INVALID_REQUEST", "baseUrl", "destination_not_allowed", 0},
		{"localhost", mut(func(d map[string]any) { d["baseUrl"] = "https://localhost:8443/api" }), 400, "INVALID_REQUEST", "baseUrl", "destination_not_allowed", 0},
		{"private IP", mut(func(d map[string]any) { d["baseUrl"] = "https://10.0.0.1/api" }), 400, "INVALID_REQUEST", "baseUrl", "destination_not_allowed", 0},
		{"internal name", mut(func(d map[string]any) { d["baseUrl"] = "https://metadata.google.internal/" }), 400, "INVALID_REQUEST", "baseUrl", "destination_not_allowed", 0},
		{"placeholder host denied", mut(func(d map[string]any) {
			d["baseUrl"] = "https://{sub}.localhost/api"
			d["auth"] = []any{map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key", "fields": []any{map[string]any{"name": "sub", "secret": false}}}}
		}), 400, "INVALID_REQUEST", "baseUrl", "destination_not_allowed", 0},
		{"oauth authorizationUrl localhost", mut(oauth("authorizationUrl", "https://localhost/authorize")), 400, "INVALID_REQUEST", "", "destination_not_allowed", 0},
		{"oauth tokenUrl metadata IP", mut(oauth("tokenUrl", "https://169.254.169.254/token")), 400, "INVALID_REQUEST", "", "destination_not_allowed", 0},
		{"oauth revocationUrl private", mut(oauth("revocationUrl", "https://10.0.0.1/revoke")), 400, "INVALID_REQUEST", "", "destination_not_allowed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("POST", "/api/connectors", tt.body).wantErr(t, tt.status, tt.code)
			if f, _ := r.detail("field").(string); tt.field != "" && f != tt.field {
				t.Fatalf("details.field %q, want %q; %s", f, tt.field, r.Body)
			}
			if tt.reason != "" && r.detail("reason") != tt.reason {
				t.Fatalf("details.reason %v, want %s; %s", r.detail("reason"), tt.reason, r.Body)
			}
			if tt.errors > 0 {
				errs, _ := r.detail("errors").([]any)
				if len(errs) < tt.errors {
					t.Fatalf("details.errors %v, want >= %d", r.detail("errors"), tt.errors)
				}
				first := errs[0].(map[string]any)
				if first["message"] == "" || first["field"] != r.detail("field") {
					t.Fatalf("details.errors[0] %v vs field %v", first, r.detail("field"))
				}
			}
			ts.call("GET", "/api/connectors/fresh", nil).wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
		})
	}
	t.Run("all problems, dot paths", func(t *testing.T) {
		r := ts.call("POST", "/api/connectors", tests[2].body).want(t, http.StatusBadRequest)
		var fields []string
		for _, e := range r.detail("errors").([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		for _, f := range []string{"resources[0].actions[2].method", "resources[1].actions[0].path", "categories[0]"} {
			if !strings.Contains(strings.Join(fields, " "), f) {
				t.Fatalf("details.errors fields %v lack %s", fields, f)
			}
		}
	})
	t.Run("at most 50 errors", func(t *testing.T) {
		d := connectorDef("many", "Many", "https://api.example.com")
		var acts []any
		for i := range 60 {
			acts = append(acts, map[string]any{"id": "a" + itoa(i), "name": "A", "method": "GET", "path": "no-slash"})
		}
		d["resources"] = []any{map[string]any{"id": "r", "name": "R", "actions": acts}}
		r := ts.call("POST", "/api/connectors", d).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		if n := len(r.detail("errors").([]any)); n != 50 {
			t.Fatalf("%d errors reported, want 50", n)
		}
	})

	t.Run("user key", func(t *testing.T) {
		user := ts.userKey("writer")
		ts.call("POST", "/api/connectors", connectorDef("by-user", "By user", "https://api.example.com"), bearer(user)...).
			wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("PUT", "/api/connectors/taken", connectorDef("taken", "Taken", "https://api.example.com"), bearer(user)...).
			wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("DELETE", "/api/connectors/taken", nil, bearer(user)...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("GET", "/api/connectors/by-user", nil).wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
	})
	t.Run("builtin read-only", func(t *testing.T) {
		g := ts.call("GET", "/api/connectors/"+builtin, nil).want(t, http.StatusOK)
		var def map[string]any
		_ = json.Unmarshal(g.Body, &def)
		for _, k := range []string{"source", "createdAt", "updatedAt", "type"} {
			delete(def, k)
		}
		ts.call("PUT", "/api/connectors/"+builtin, def).wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("DELETE", "/api/connectors/"+builtin, nil).wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("DELETE", "/api/connectors/"+builtin+"?force=true", nil).wantErr(t, http.StatusForbidden, "FORBIDDEN")
		ts.call("GET", "/api/connectors/"+builtin, nil).want(t, http.StatusOK)
	})
	t.Run("put", func(t *testing.T) {
		other := connectorDef("other-id", "Taken", "https://api.example.com")
		ts.call("PUT", "/api/connectors/taken", other).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		ts.call("PUT", "/api/connectors/missing", connectorDef("missing", "M", "https://api.example.com")).
			wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
		bad := connectorDef("taken", "Taken", "https://169.254.169.254")
		r := ts.call("PUT", "/api/connectors/taken", bad).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		if r.detail("reason") != "destination_not_allowed" {
			t.Fatalf("PUT to a denied address: %s", r.Body)
		}
		ts.call("DELETE", "/api/connectors/taken?force=maybe", nil).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		ts.call("DELETE", "/api/connectors/missing", nil).wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
	})
}

func TestAPIConnectorsMCPUpstream(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	up := newUpstreamMCP(t)
	team := secretValue("team-")
	body := map[string]any{"type": "mcp", "id": "docs", "name": "Docs search", "description": "Search the docs", "categories": []string{"docs"},
		"url": up.URL, "headers": map[string]string{"X-Team": team}}
	r := ts.call("POST", "/api/connectors", body).want(t, http.StatusCreated)
	if !up.sawHeader("X-Team", team) {
		t.Fatal("the tool list was not read with the static headers")
	}
	actionIDs := func(r *resp) []string {
		var out []string
		for _, res := range r.JSON["resources"].([]any) {
			if res.(map[string]any)["id"] != "tools" || res.(map[string]any)["name"] != "Tools" {
				t.Fatalf("resource %v", res)
			}
			for _, a := range res.(map[string]any)["actions"].([]any) {
				out = append(out, a.(map[string]any)["id"].(string))
				if a.(map[string]any)["method"] != "MCP" {
					t.Fatalf("action %v", a)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	// Three tools over two pages of the upstream's tools/list.
	if d := cmp.Diff([]string{"delete_page", "read_page", "search_docs"}, actionIDs(r)); d != "" {
		t.Fatalf("actions (-want +got):\n%s", d)
	}
	if r.str("type") != "mcp" || r.str("url") != up.URL || !jsonEqual(r.JSON["headers"], map[string]string{"X-Team": "[set]"}) {
		t.Fatalf("create: %s", r.Body)
	}
	g := ts.call("GET", "/api/connectors/docs", nil).want(t, http.StatusOK)
	if !jsonEqual(g.JSON["headers"], map[string]string{"X-Team": "[set]"}) || strings.Contains(string(g.Body), team) || strings.Contains(string(r.Body), team) {
		t.Fatalf("get: %s", g.Body)
	}
	sum := ts.listAllConnectors("&category=docs")
	if len(sum) != 1 || sum[0]["type"] != "mcp" || sum[0]["actionCount"] != 3.0 {
		t.Fatalf("summary %v", sum)
	}
	// The header value is stored encrypted.
	for name, b := range dbFiles(t, ts.cfg.DataDir) {
		if strings.Contains(string(b), team) {
			t.Fatalf("%s holds the static header in plaintext", name)
		}
	}

	// Executing a tool through MCP sends the static header upstream.
	_, url := ts.mcpServer(map[string]any{"name": "Docs bot"})
	tr := callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "docs", "actionId": "search_docs", "parameters": map[string]any{"q": "x"}}).wantOK(t)
	if tr.Structured["tool"] != "search.docs" || tr.Structured["team"] != team {
		// The upstream echoes the header it got; the gateway may redact it
		// as a secret value, which is fine too.
		if tr.Structured["team"] != "[REDACTED]" {
			t.Fatalf("execute: %v", tr.Structured)
		}
	}

	// Refresh re-reads the tool list.
	up.addTool("new_tool", "A new tool", true)
	r = ts.call("POST", "/api/connectors/docs/refresh", nil).want(t, http.StatusOK)
	if d := cmp.Diff([]string{"delete_page", "new_tool", "read_page", "search_docs"}, actionIDs(r)); d != "" {
		t.Fatalf("after refresh (-want +got):\n%s", d)
	}
	if !jsonEqual(r.JSON["headers"], map[string]string{"X-Team": "[set]"}) || !parseTime(t, r.JSON["updatedAt"]).After(parseTime(t, r.JSON["createdAt"]).Add(-1)) {
		t.Fatalf("refresh: %s", r.Body)
	}
	callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "docs", "actionId": "new_tool", "parameters": map[string]any{}}).wantOK(t)
	ts.call("POST", "/api/connectors/docs/refresh", nil, bearer(ts.userKey("u"))...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
	ts.createConnector(connectorDef("resty", "Resty", "https://api.example.com"))
	ts.call("POST", "/api/connectors/resty/refresh", nil).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")

	// Tools given inline are used as they are: the upstream is not asked.
	up.mu.Lock()
	before := len(up.headers)
	up.mu.Unlock()
	inline := map[string]any{"type": "mcp", "id": "inline-docs", "name": "Inline", "url": up.URL, "auth": []any{map[string]any{"type": "bearer"}},
		"tools": []any{
			map[string]any{"name": "lookup", "title": "Look up", "inputSchema": map[string]any{"type": "object", "properties": map[string]any{"term": map[string]any{"type": "string"}}},
				"annotations": map[string]any{"readOnlyHint": true}},
			map[string]any{"name": "Lookup"},
		}}
	r = ts.call("POST", "/api/connectors", inline).want(t, http.StatusCreated)
	up.mu.Lock()
	after := len(up.headers)
	up.mu.Unlock()
	if after != before {
		t.Fatalf("inline tools: the upstream got %d requests", after-before)
	}
	acts := r.JSON["resources"].([]any)[0].(map[string]any)["actions"].([]any)
	a0, a1 := acts[0].(map[string]any), acts[1].(map[string]any)
	if a0["id"] != "lookup" || a0["name"] != "Look up" || a0["readOnly"] != true || a1["id"] != "Lookup_2" {
		t.Fatalf("inline actions %v", acts)
	}
	if _, ok := r.JSON["headers"]; ok {
		t.Fatalf("headers shown without any: %s", r.Body)
	}
	if !jsonEqual(r.JSON["auth"], []any{map[string]any{"type": "bearer"}}) {
		t.Fatalf("auth %v", r.JSON["auth"])
	}

	tests := []struct {
		name   string
		body   map[string]any
		status int
		reason string
	}{
		{"unreachable", map[string]any{"type": "mcp", "id": "gone", "name": "Gone", "url": "http://127.0.0.1:1/mcp"}, 400, "upstream_unreachable"},
		{"denied url", map[string]any{"type": "mcp", "id": "meta", "name": "Meta", "url": "https://169.254.169.254/mcp", "tools": []any{}}, 400, "destination_not_allowed"},
		{"localhost url", map[string]any{"type": "mcp", "id": "loc", "name": "Loc", "url": "https://localhost/mcp", "tools": []any{}}, 400, "destination_not_allowed"},
		{"bad id", map[string]any{"type": "mcp", "id": "Bad_ID", "name": "B", "url": up.URL, "tools": []any{}}, 400, ""},
		{"builtin id", map[string]any{"type": "mcp", "id": ts.listAllConnectors("")[0]["id"], "name": "B", "url": up.URL}, 409, ""},
		{"duplicate", map[string]any{"type": "mcp", "id": "docs", "name": "Again", "url": up.URL}, 409, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("POST", "/api/connectors", tt.body).want(t, tt.status)
			if tt.reason != "" && r.detail("reason") != tt.reason {
				t.Fatalf("reason %v: %s", r.detail("reason"), r.Body)
			}
		})
	}
	events, raw := ts.auditEvents("&type=connector.*")
	if strings.Contains(string(raw), team) {
		t.Fatal("audit holds the static header")
	}
	var created []string
	for _, e := range events {
		if e["type"] == "connector.created" && e["details"].(map[string]any)["source"] == "mcp" {
			created = append(created, e["connectorId"].(string))
		}
	}
	if !cmp.Equal([]string{"inline-docs", "docs"}, created) {
		t.Fatalf("connector.created (mcp) events for %v", created)
	}
	if strings.Contains(ts.logs.String(), team) {
		t.Fatal("a log line holds the static header")
	}
}

func TestAPIConnectorsDeleteWithCredentials(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("doomed", "Doomed", p.URL))
	ts.createConnector(connectorDef("empty", "Empty", p.URL))
	ts.call("DELETE", "/api/connectors/empty", nil).want(t, http.StatusOK)

	alice, bob := ts.userKey("alice"), ts.userKey("bob")
	keyA, keyB := secretValue("ka-"), secretValue("kb-")
	p.expect(keyA, "alice")
	p.expect(keyB, "bob")
	credA := ts.storeCredential("doomed", "apiKey", keyA, "", bearer(alice)...)
	credB := ts.storeCredential("doomed", "apiKey", keyB, "", bearer(bob)...)
	ts.call("PUT", "/api/connectors/doomed/oauth-app", map[string]any{"clientId": "c", "clientSecret": "s"}).want(t, http.StatusBadRequest)

	// Alice's warm MCP call caches her candidate list.
	_, url := ts.mcpServer(map[string]any{"name": "Alice bot"}, bearer(alice)...)
	tr := callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "doomed", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}}).wantOK(t)
	if tr.Structured["owner"] != "alice" {
		t.Fatalf("before delete: %v", tr.Structured)
	}

	r := ts.call("DELETE", "/api/connectors/doomed", nil).wantErr(t, http.StatusConflict, "CONFLICT", "credentialCount", 2)
	_ = r
	ts.call("DELETE", "/api/connectors/doomed?force=false", nil).wantErr(t, http.StatusConflict, "CONFLICT", "credentialCount", 2)
	ts.call("GET", "/api/credentials/"+credA, nil, bearer(alice)...).want(t, http.StatusOK)
	r = ts.call("DELETE", "/api/connectors/doomed?force=true", nil).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"message": "Connector deleted", "connectorId": "doomed"}, r.JSON); d != "" {
		t.Fatal(d)
	}
	ts.call("GET", "/api/credentials/"+credA, nil, bearer(alice)...).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("GET", "/api/credentials/"+credB, nil, bearer(bob)...).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("GET", "/api/connectors/doomed", nil).wantErr(t, http.StatusNotFound, "CONNECTOR_NOT_FOUND")
	callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "doomed", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}}).
		wantErr(t, "CONNECTOR_NOT_FOUND")

	// The deletion is audited: connector.deleted counts the credentials.
	events, _ := ts.auditEvents("&type=connector.deleted")
	if len(events) != 2 || events[0]["connectorId"] != "doomed" || events[1]["connectorId"] != "empty" ||
		events[0]["details"].(map[string]any)["deletedCredentials"] != 2.0 || events[0]["details"].(map[string]any)["source"] != "definition" {
		t.Fatalf("connector.deleted events %v", events)
	}
	if r := ts.call("GET", "/api/credentials?connectorId=doomed", nil, bearer(alice)...).want(t, http.StatusOK); r.num("count") != 0 {
		t.Fatalf("credentials after the delete: %s", r.Body)
	}

	t.Run("credential.deleted per credential", func(t *testing.T) {
		events, _ := ts.auditEvents("&type=credential.deleted")
		deleted := map[string]bool{}
		for _, e := range events {
			if e["connectorId"] == "doomed" {
				deleted[e["credentialId"].(string)] = true
			}
		}
		if !deleted[credA] || !deleted[credB] {
			t.Errorf("credential.deleted audited for %v, want %s and %s", deleted, credA, credB)
		}
	})

	// A connector created again under the same ID starts without
	// credentials: the gateway does not use the deleted ones.
	t.Run("recreated connector has no credentials", func(t *testing.T) {
		ts.createConnector(connectorDef("doomed", "Doomed again", p.URL))
		calls := p.callCount()
		tr = callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "doomed", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}})
		tr.wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
		if p.callCount() != calls {
			t.Fatalf("a deleted credential reached the platform: %+v", p.lastCall())
		}
	})
}

func TestAPIConnectorsUpdateTakesEffect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p1, p2 := newPlatform(t), newPlatform(t)
	key := secretValue("key-")
	p1.expect(key, "one")
	p2.expect(key, "two")
	def := connectorDef("moving", "Moving", p1.URL)
	r := ts.call("POST", "/api/connectors", def).want(t, http.StatusCreated)
	created := r.str("createdAt")
	ts.storeCredential("moving", "apiKey", key, "")
	_, url := ts.mcpServer(map[string]any{"name": "Mover"})
	list := func() *toolResult {
		return callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "moving", "actionId": "items_list", "parameters": map[string]any{"q": "a"}}).wantOK(t)
	}
	if tr := list(); tr.Structured["owner"] != "one" || tr.Meta["patchbay/cacheHit"] != false {
		t.Fatalf("first call: %v %v", tr.Structured, tr.Meta)
	}
	if tr := list(); tr.Meta["patchbay/cacheHit"] != true {
		t.Fatalf("second call not cached: %v", tr.Meta)
	}

	// A new base URL, a new path, a new action: the next call uses them.
	def["baseUrl"] = p2.URL
	acts := def["resources"].([]any)[0].(map[string]any)["actions"].([]any)
	acts[0].(map[string]any)["path"] = "/v2/items"
	def["resources"].([]any)[1].(map[string]any)["actions"] = append(def["resources"].([]any)[1].(map[string]any)["actions"].([]any),
		map[string]any{"id": "notes_list", "name": "List notes", "method": "GET", "path": "/notes"})
	r = ts.call("PUT", "/api/connectors/moving", def).want(t, http.StatusOK)
	if r.str("createdAt") != created || r.str("baseUrl") != p2.URL {
		t.Fatalf("PUT: %s", r.Body)
	}
	if !reTimestamp.MatchString(r.str("updatedAt")) || r.str("updatedAt") < created {
		t.Fatalf("updatedAt %q, createdAt %q", r.str("updatedAt"), created)
	}
	if g := ts.call("GET", "/api/connectors/moving", nil).want(t, http.StatusOK); g.str("updatedAt") != r.str("updatedAt") || g.str("baseUrl") != p2.URL {
		t.Fatalf("GET after PUT: %s", g.Body)
	}
	tr := list()
	if tr.Structured["owner"] != "two" || tr.Structured["path"] != "/v2/items" || tr.Meta["patchbay/cacheHit"] != false {
		t.Fatalf("after PUT: %v %v", tr.Structured, tr.Meta)
	}
	callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "moving", "actionId": "notes_list", "parameters": map[string]any{}}).wantOK(t)
	// An action removed by a PUT is gone at once.
	acts = acts[:1]
	def["resources"].([]any)[0].(map[string]any)["actions"] = acts
	ts.call("PUT", "/api/connectors/moving", def, "Content-Type", "application/json").want(t, http.StatusOK)
	callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": "moving", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}}).
		wantErr(t, "ACTION_NOT_FOUND")
	events, _ := ts.auditEvents("&type=connector.updated")
	if len(events) != 2 || events[0]["details"].(map[string]any)["source"] != "definition" {
		t.Fatalf("connector.updated events %v", events)
	}
}
