package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// §5: the servers section of the contract, through the real handler.

func TestAPIServerCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.PublicURL = "https://patchbay.example.com/" })
	body := `{"name":"Support Bot","description":"Helpdesk assistant","tokenExpiresInDays":90,
	 "restrictions":{"connectors":{"mode":"allowlist","allowedIds":["acme-crm","slack"]},
	                 "actions":{"blockedActions":["acme-crm.deals_delete"]}}}`
	before := time.Now().UTC().Truncate(time.Second)
	r := ts.call("POST", "/api/servers", body, "x-alloy-userid", "cust-42").want(t, http.StatusCreated)
	after := time.Now().UTC()
	id, token := r.str("serverId"), r.str("accessToken")
	if !strings.HasPrefix(id, "support-bot-") || !reServerID.MatchString(id) || len(id) != len("support-bot-")+8 {
		t.Fatalf("serverId %q", id)
	}
	if !reToken.MatchString(token) {
		t.Fatalf("accessToken %q", token)
	}
	if got := r.Header.Get("Location"); got != "/api/servers/"+id {
		t.Fatalf("Location %q", got)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	created := parseTime(t, r.JSON["createdAt"])
	if created.Before(before) || created.After(after) || r.JSON["updatedAt"] != r.JSON["createdAt"] {
		t.Fatalf("createdAt %v updatedAt %v", r.JSON["createdAt"], r.JSON["updatedAt"])
	}
	for _, f := range []string{"createdAt", "updatedAt", "tokenExpiresAt"} {
		if !reTimestamp.MatchString(r.str(f)) {
			t.Fatalf("%s = %q is not second-precision RFC 3339 UTC", f, r.str(f))
		}
	}
	if exp := parseTime(t, r.JSON["tokenExpiresAt"]); exp.Sub(created) != 90*24*time.Hour {
		t.Fatalf("tokenExpiresAt %v, created %v", exp, created)
	}
	want := map[string]any{
		"serverId":           id,
		"name":               "Support Bot",
		"description":        "Helpdesk assistant",
		"customInstructions": "",
		"mode":               "connectivity",
		"isPublic":           false,
		"restrictions": map[string]any{
			"connectors": map[string]any{"mode": "allowlist", "allowedIds": []any{"acme-crm", "slack"}},
			"actions":    map[string]any{"mode": "blocklist", "blockedActions": []any{"acme-crm.deals_delete"}},
		},
		"hasRestrictions":             true,
		"rateLimit":                   nil,
		"cache":                       true,
		"allowUnverifiedUserIds":      false,
		"allowSecretsInToolArguments": false,
		"url":                         "https://patchbay.example.com/mcp/" + id,
		"accessUrl":                   "https://patchbay.example.com/mcp/" + id + "/" + token,
		"accessToken":                 token,
		"tokenExpiresAt":              r.JSON["tokenExpiresAt"],
		"createdAt":                   r.JSON["createdAt"],
		"updatedAt":                   r.JSON["createdAt"],
	}
	if d := cmp.Diff(want, r.JSON); d != "" {
		t.Fatalf("create response (-want +got):\n%s", d)
	}

	// The owner is the acting user: cust-42 sees it, admin itself does not.
	got := ts.call("GET", "/api/servers/"+id, nil, "x-alloy-userid", "cust-42").want(t, http.StatusOK)
	delete(want, "accessToken")
	if d := cmp.Diff(want, got.JSON); d != "" {
		t.Fatalf("get response (-want +got):\n%s", d)
	}
	ts.call("GET", "/api/servers/"+id, nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")

	// Every writable member with a non-default value.
	full := map[string]any{"name": "Full", "description": strings.Repeat("d", 2000), "customInstructions": strings.Repeat("i", 10000),
		"mode": "direct", "isPublic": true, "tokenExpiresInDays": 1, "restrictions": map[string]any{},
		"rateLimit": map[string]any{"requestsPerMinute": 100000}, "cache": false, "allowUnverifiedUserIds": true,
		"allowSecretsInToolArguments": true}
	r = ts.call("POST", "/api/servers", full).want(t, http.StatusCreated)
	for k, v := range full {
		if k == "tokenExpiresInDays" {
			continue
		}
		if d := cmp.Diff(normalize(v), r.JSON[k]); d != "" {
			t.Fatalf("%s (-sent +echoed):\n%s", k, d)
		}
	}
	if r.JSON["hasRestrictions"] != false {
		t.Fatalf("hasRestrictions %v for {}", r.JSON["hasRestrictions"])
	}
	if exp := parseTime(t, r.JSON["tokenExpiresAt"]); exp.Sub(parseTime(t, r.JSON["createdAt"])) != 24*time.Hour {
		t.Fatalf("tokenExpiresAt %v", exp)
	}
	// The largest tokenExpiresInDays is accepted.
	r = ts.call("POST", "/api/servers", map[string]any{"name": "Year", "tokenExpiresInDays": 365}).want(t, http.StatusCreated)
	if exp := parseTime(t, r.JSON["tokenExpiresAt"]); exp.Sub(parseTime(t, r.JSON["createdAt"])) != 365*24*time.Hour {
		t.Fatalf("tokenExpiresAt %v", exp)
	}
}

// normalize turns a Go literal into what encoding/json decodes.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func TestAPIServerIDSlugs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name, server, slug string
	}{
		{"ContractExample", "Production Server", "production-server"},
		{"Simple", "Support Bot", "support-bot"},
		{"Digits", "ABC 123", "abc-123"},
		{"RunsCollapse", "a  --__!!  b", "a-b"},
		{"TrimBothEnds", "  --Hello, World!--  ", "hello-world"},
		{"NonASCII", "Café Münster", "caf-m-nster"},
		{"OnlyNonASCII", "日本語", "server"},
		{"OnlyPunctuation", "!!!", "server"},
		{"Dots", "Server 2.0", "server-2-0"},
		{"CutAt40", strings.Repeat("a", 50), strings.Repeat("a", 40)},
		{"CutThenTrimDash", strings.Repeat("a", 39) + " bcd", strings.Repeat("a", 39)},
		{"LowerCase", "UPPER", "upper"},
		{"Emoji", "🤖 Bot 🤖", "bot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ts.createServer(tt.server).str("serverId")
			slug, hex, ok := cutLast(id, "-")
			if !ok || slug != tt.slug || len(hex) != 8 || strings.Trim(hex, "0123456789abcdef") != "" {
				t.Fatalf("serverId %q for %q, want %s-<8 hex>", id, tt.server, tt.slug)
			}
		})
	}
	// Same name under another owner gets a distinct ID.
	a := ts.createServer("Twin").str("serverId")
	b := ts.createServer("Twin", "x-alloy-userid", "other").str("serverId")
	if a == b {
		t.Fatalf("two servers share ID %s", a)
	}
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}

func TestAPIServerCreateInvalid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	list := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("c%d", i)
		}
		return out
	}
	tests := []struct {
		name  string
		body  any
		field string
		// reason, when set, is details.reason
	}{
		{"NameMissing", `{}`, "name"},
		{"EmptyBody", nil, "name"},
		{"NameEmpty", `{"name":""}`, "name"},
		{"NameWhitespace", `{"name":"  \t "}`, "name"},
		{"Name101", map[string]any{"name": strings.Repeat("x", 101)}, "name"},
		{"Name101Runes", map[string]any{"name": strings.Repeat("é", 101)}, "name"},
		{"NameNull", `{"name":null}`, "name"},
		{"NameNumber", `{"name":5}`, "name"},
		{"Description2001", map[string]any{"name": "x", "description": strings.Repeat("d", 2001)}, "description"},
		{"Instructions10001", map[string]any{"name": "x", "customInstructions": strings.Repeat("i", 10001)}, "customInstructions"},
		{"Days0", `{"name":"x","tokenExpiresInDays":0}`, "tokenExpiresInDays"},
		{"Days366", `{"name":"x","tokenExpiresInDays":366}`, "tokenExpiresInDays"},
		{"DaysFraction", `{"name":"x","tokenExpiresInDays":5.5}`, "tokenExpiresInDays"},
		{"DaysString", `{"name":"x","tokenExpiresInDays":"5"}`, "tokenExpiresInDays"},
		{"DaysNegative", `{"name":"x","tokenExpiresInDays":-1}`, "tokenExpiresInDays"},
		{"DaysNull", `{"name":"x","tokenExpiresInDays":null}`, "tokenExpiresInDays"},
		{"ModeUnknown", `{"name":"x","mode":"turbo"}`, "mode"},
		{"ModeCase", `{"name":"x","mode":"Direct"}`, "mode"},
		{"ModeNull", `{"name":"x","mode":null}`, "mode"},
		{"IsPublicString", `{"name":"x","isPublic":"true"}`, "isPublic"},
		{"CacheNull", `{"name":"x","cache":null}`, "cache"},
		{"RateLimit0", `{"name":"x","rateLimit":{"requestsPerMinute":0}}`, "rateLimit.requestsPerMinute"},
		{"RateLimitTooHigh", `{"name":"x","rateLimit":{"requestsPerMinute":100001}}`, "rateLimit.requestsPerMinute"},
		{"RateLimitEmpty", `{"name":"x","rateLimit":{}}`, "rateLimit.requestsPerMinute"},
		{"RateLimitUnknownMember", `{"name":"x","rateLimit":{"perMinute":5}}`, "rateLimit.perMinute"},
		{"RestrictionsBothListsNoMode", `{"name":"x","restrictions":{"connectors":{"allowedIds":["a"],"blockedIds":["b"]}}}`, "restrictions.connectors.mode"},
		{"RestrictionsNoList", `{"name":"x","restrictions":{"users":{}}}`, "restrictions.users.mode"},
		{"RestrictionsUnknownMode", `{"name":"x","restrictions":{"actions":{"mode":"denylist","blockedActions":["a"]}}}`, "restrictions.actions.mode"},
		{"Restrictions1001", map[string]any{"name": "x", "restrictions": map[string]any{"connectors": map[string]any{"allowedIds": list(1001)}}}, "restrictions.connectors.allowedIds"},
		{"RestrictionsBadConnectorID", `{"name":"x","restrictions":{"connectors":{"allowedIds":["Bad_ID"]}}}`, "restrictions.connectors.allowedIds"},
		{"RestrictionsBadActionRef", `{"name":"x","restrictions":{"actions":{"allowedActions":["acme.1bad"]}}}`, "restrictions.actions.allowedActions"},
		{"RestrictionsBadUserID", `{"name":"x","restrictions":{"users":{"blockedIds":["has space"]}}}`, "restrictions.users.blockedIds"},
		{"RestrictionsPermissions", `{"name":"x","restrictions":{"permissions":[{"connectorId":"slack"}]}}`, "restrictions.permissions"},
		{"RestrictionsCaseVariant", `{"name":"x","restrictions":{"Connectors":{"allowedIds":["a"]}}}`, "restrictions.Connectors"},
		{"RestrictionsNestedUnknown", `{"name":"x","restrictions":{"connectors":{"allowedIDs":["a"]}}}`, "restrictions.connectors.allowedIDs"},
		{"RestrictionsNotObject", `{"name":"x","restrictions":[]}`, "restrictions"},
		{"UnknownField", `{"name":"x","color":"red"}`, "color"},
		{"CaseVariant", `{"Name":"x"}`, "Name"},
		{"CaseVariantBesideName", `{"name":"x","Description":"y"}`, "Description"},
		{"ResponseOnlyOnCreate", `{"name":"x","serverId":"x-00000000"}`, "serverId"},
		{"DuplicateMember", `{"name":"x","name":"y"}`, "name"},
		{"DuplicateNested", `{"name":"x","restrictions":{"users":{"allowedIds":["a"],"allowedIds":["b"]}}}`, "restrictions.users.allowedIds"},
		{"TrailingData", `{"name":"x"} {}`, ""},
		{"TrailingGarbage", `{"name":"x"}x`, ""},
		{"NotJSON", `name=x`, ""},
		{"Array", `[{"name":"x"}]`, ""},
		{"InvalidUTF8", "{\"name\":\"\xff\"}", ""},
		{"Truncated", `{"name":"x"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("POST", "/api/servers", tt.body)
			if tt.body == nil {
				r = ts.call("POST", "/api/servers", nil, "Content-Type", "application/json")
			}
			r.wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
			if tt.field != "" && r.detail("field") != tt.field {
				t.Fatalf("details.field %v, want %q; body %s", r.detail("field"), tt.field, r.Body)
			}
		})
	}
	// Nothing was created by the failures.
	if n := ts.call("GET", "/api/servers", nil).want(t, http.StatusOK).num("count"); n != 0 {
		t.Fatalf("%v servers after only invalid requests", n)
	}
}

func TestAPIServerNameConflict(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.createServer("Support Bot")
	ts.call("POST", "/api/servers", map[string]any{"name": "Support Bot"}).
		wantErr(t, http.StatusConflict, "CONFLICT", "field", "name")
	// Surrounding whitespace is trimmed before the comparison.
	ts.call("POST", "/api/servers", map[string]any{"name": "  Support Bot "}).
		wantErr(t, http.StatusConflict, "CONFLICT", "field", "name")
	// Case-sensitive; another owner may reuse the name.
	ts.createServer("support bot")
	ts.createServer("Support Bot", "x-alloy-userid", "cust-42")
	// Another account may too.
	other := ts.newAccount("other")
	ts.createServer("Support Bot", bearer(other)...)
	// Renaming onto an existing name conflicts; renaming to itself does not.
	id := ts.createServer("Second").str("serverId")
	ts.call("PUT", "/api/servers/"+id, map[string]any{"name": "Support Bot"}).wantErr(t, http.StatusConflict, "CONFLICT", "field", "name")
	ts.call("PUT", "/api/servers/"+id, map[string]any{"name": "Second"}).want(t, http.StatusOK)
}

func TestAPIServerList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// Five servers created within (at most) a few seconds: order is createdAt
	// desc, then serverId asc.
	for i := range 5 {
		ts.createServer(fmt.Sprintf("S%d", i))
	}
	ts.createServer("Not mine", "x-alloy-userid", "someone-else")
	all := ts.call("GET", "/api/servers", nil).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"count": 5.0, "limit": 50.0, "offset": 0.0, "hasMore": false},
		map[string]any{"count": all.JSON["count"], "limit": all.JSON["limit"], "offset": all.JSON["offset"], "hasMore": all.JSON["hasMore"]}); d != "" {
		t.Fatal(d)
	}
	items := all.list("servers")
	if len(items) != 5 {
		t.Fatalf("%d servers", len(items))
	}
	sorted := slices.IsSortedFunc(items, func(a, b map[string]any) int {
		if c := strings.Compare(b["createdAt"].(string), a["createdAt"].(string)); c != 0 {
			return c
		}
		return strings.Compare(a["serverId"].(string), b["serverId"].(string))
	})
	if !sorted {
		t.Fatalf("order is not createdAt desc, serverId asc: %v", items)
	}
	for _, it := range items {
		if _, ok := it["accessToken"]; ok {
			t.Fatal("list item carries accessToken")
		}
		if !strings.HasPrefix(it["accessUrl"].(string), ts.URL+"/mcp/"+it["serverId"].(string)+"/mcp_token_") {
			t.Fatalf("accessUrl %v", it["accessUrl"])
		}
	}
	ids := func(r *resp) []string {
		var out []string
		for _, it := range r.list("servers") {
			out = append(out, it["serverId"].(string))
		}
		return out
	}
	var paged []string
	for off := 0; off < 5; off += 2 {
		r := ts.call("GET", fmt.Sprintf("/api/servers?limit=2&offset=%d", off), nil).want(t, http.StatusOK)
		if r.num("count") != 5 || r.num("limit") != 2 || r.num("offset") != float64(off) || r.JSON["hasMore"] != (off+2 < 5) {
			t.Fatalf("page at %d: %s", off, r.Body)
		}
		paged = append(paged, ids(r)...)
	}
	if d := cmp.Diff(ids(all), paged); d != "" {
		t.Fatalf("pages differ from the full list:\n%s", d)
	}
	r := ts.call("GET", "/api/servers?offset=10", nil).want(t, http.StatusOK)
	if len(r.list("servers")) != 0 || r.num("count") != 5 || r.JSON["hasMore"] != false {
		t.Fatalf("offset past the end: %s", r.Body)
	}
	if string(r.Body) == "" || !strings.Contains(string(r.Body), `"servers":[]`) {
		t.Fatalf("empty page must be [] not null: %s", r.Body)
	}
	for _, q := range []string{"limit=200", "limit=1", "offset=0"} {
		ts.call("GET", "/api/servers?"+q, nil).want(t, http.StatusOK)
	}
	for _, tt := range []struct{ q, field string }{
		{"limit=0", "limit"}, {"limit=201", "limit"}, {"limit=abc", "limit"}, {"limit=1.5", "limit"}, {"limit=", "limit"},
		{"limit=-1", "limit"}, {"offset=-1", "offset"}, {"offset=x", "offset"}, {"offset=1e3", "offset"},
	} {
		t.Run(tt.q, func(t *testing.T) {
			ts.call("GET", "/api/servers?"+tt.q, nil).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", tt.field)
		})
	}
	// Another user sees only their own.
	r = ts.call("GET", "/api/servers", nil, "x-alloy-userid", "someone-else").want(t, http.StatusOK)
	if r.num("count") != 1 || r.list("servers")[0]["name"] != "Not mine" {
		t.Fatalf("other user's list: %s", r.Body)
	}
}

func TestAPIServerUpdate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	created := ts.call("POST", "/api/servers", `{"name":"Bot","description":"d","customInstructions":"c",
		"restrictions":{"users":{"allowedIds":["u1"]}},"rateLimit":{"requestsPerMinute":10}}`).want(t, http.StatusCreated)
	id := created.str("serverId")
	path := "/api/servers/" + id

	// {} returns the server unchanged, updatedAt included.
	r := ts.call("PUT", path, `{}`).want(t, http.StatusOK)
	base := created.JSON
	delete(base, "accessToken")
	if d := cmp.Diff(base, r.JSON); d != "" {
		t.Fatalf("PUT {} changed the server:\n%s", d)
	}
	// An empty body is {} too.
	r = ts.call("PUT", path, nil).want(t, http.StatusOK)
	if d := cmp.Diff(base, r.JSON); d != "" {
		t.Fatalf("PUT without body changed the server:\n%s", d)
	}
	// Setting a field to its current value is no change either.
	r = ts.call("PUT", path, map[string]any{"name": "Bot", "description": "d"}).want(t, http.StatusOK)
	if r.JSON["updatedAt"] != base["updatedAt"] {
		t.Fatalf("updatedAt changed without a change")
	}
	waitNextSecond(parseTime(t, base["updatedAt"]))

	// Partial update: only the sent fields change.
	r = ts.call("PUT", path, map[string]any{"name": " Renamed ", "isPublic": true}).want(t, http.StatusOK)
	if r.str("name") != "Renamed" || r.JSON["isPublic"] != true || r.str("description") != "d" || r.str("customInstructions") != "c" {
		t.Fatalf("partial update: %s", r.Body)
	}
	if _, ok := r.JSON["accessToken"]; ok {
		t.Fatal("PUT response carries accessToken")
	}
	if r.JSON["updatedAt"] == base["updatedAt"] || r.JSON["createdAt"] != base["createdAt"] || r.str("serverId") != id ||
		r.JSON["accessUrl"] != base["accessUrl"] || r.JSON["tokenExpiresAt"] != base["tokenExpiresAt"] {
		t.Fatalf("timestamps/IDs after update: %s", r.Body)
	}
	// restrictions replace the whole object (no merge).
	r = ts.call("PUT", path, `{"restrictions":{"connectors":{"blockedIds":["slack"]}}}`).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"connectors": map[string]any{"mode": "blocklist", "blockedIds": []any{"slack"}}}, r.JSON["restrictions"]); d != "" {
		t.Fatalf("restrictions replaced (-want +got):\n%s", d)
	}
	if r.JSON["hasRestrictions"] != true {
		t.Fatal("hasRestrictions false for a non-empty blocklist")
	}
	// An empty blocklist is not active; the list of the other mode is kept.
	r = ts.call("PUT", path, `{"restrictions":{"actions":{"mode":"blocklist","blockedActions":[],"allowedActions":["x"]}}}`).want(t, http.StatusOK)
	if r.JSON["hasRestrictions"] != false {
		t.Fatalf("empty blocklist counted as a restriction: %s", r.Body)
	}
	if d := cmp.Diff(map[string]any{"actions": map[string]any{"mode": "blocklist", "blockedActions": []any{}, "allowedActions": []any{"x"}}}, r.JSON["restrictions"]); d != "" {
		t.Fatalf("stored form (-want +got):\n%s", d)
	}
	for _, clear := range []string{`{"restrictions":null}`, `{"restrictions":{}}`} {
		ts.call("PUT", path, `{"restrictions":{"users":{"allowedIds":["u"]}}}`).want(t, http.StatusOK)
		r = ts.call("PUT", path, clear).want(t, http.StatusOK)
		if d := cmp.Diff(map[string]any{}, r.JSON["restrictions"]); d != "" || r.JSON["hasRestrictions"] != false {
			t.Fatalf("%s: restrictions %v hasRestrictions %v", clear, r.JSON["restrictions"], r.JSON["hasRestrictions"])
		}
	}
	// null clears description and customInstructions to "", rateLimit to the default.
	r = ts.call("PUT", path, `{"description":null,"customInstructions":null,"rateLimit":null}`).want(t, http.StatusOK)
	if r.JSON["description"] != "" || r.JSON["customInstructions"] != "" || r.JSON["rateLimit"] != nil {
		t.Fatalf("null did not clear: %s", r.Body)
	}
	r = ts.call("PUT", path, `{"rateLimit":{"requestsPerMinute":7},"mode":"direct","cache":false,"allowUnverifiedUserIds":true,"allowSecretsInToolArguments":true}`).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"requestsPerMinute": 7.0}, r.JSON["rateLimit"]); d != "" || r.JSON["mode"] != "direct" ||
		r.JSON["cache"] != false || r.JSON["allowUnverifiedUserIds"] != true || r.JSON["allowSecretsInToolArguments"] != true {
		t.Fatalf("update of the extension fields: %s", r.Body)
	}
	// The stored state is what GET returns.
	got := ts.call("GET", path, nil).want(t, http.StatusOK)
	if d := cmp.Diff(r.JSON, got.JSON); d != "" {
		t.Fatalf("GET after PUT (-put +get):\n%s", d)
	}

	// Response-only and create-only fields are not updatable.
	for _, f := range []string{"tokenExpiresInDays", "serverId", "accessToken", "url", "accessUrl", "tokenExpiresAt",
		"hasRestrictions", "createdAt", "updatedAt"} {
		t.Run("NotUpdatable/"+f, func(t *testing.T) {
			ts.call("PUT", path, `{"`+f+`":"x"}`).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", f, "reason", "not_updatable")
		})
	}
	for _, tt := range []struct{ name, body, field string }{
		{"UnknownField", `{"colour":"red"}`, "colour"},
		{"CaseVariant", `{"NAME":"x"}`, "NAME"},
		{"NameEmpty", `{"name":" "}`, "name"},
		{"NameNull", `{"name":null}`, "name"},
		{"Name101", `{"name":"` + strings.Repeat("n", 101) + `"}`, "name"},
		{"ModeUnknown", `{"mode":"other"}`, "mode"},
		{"ModeNull", `{"mode":null}`, "mode"},
		{"IsPublicNull", `{"isPublic":null}`, "isPublic"},
		{"RateLimitZero", `{"rateLimit":{"requestsPerMinute":0}}`, "rateLimit.requestsPerMinute"},
		{"Restrictions", `{"restrictions":{"connectors":{"mode":"x"}}}`, "restrictions.connectors.mode"},
		{"Duplicate", `{"description":"a","description":"b"}`, "description"},
		{"Trailing", `{}{}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("PUT", path, tt.body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
			if tt.field != "" && r.detail("field") != tt.field {
				t.Fatalf("details.field %v, want %q", r.detail("field"), tt.field)
			}
		})
	}
	// Failed updates changed nothing.
	if d := cmp.Diff(got.JSON, ts.call("GET", path, nil).want(t, http.StatusOK).JSON); d != "" {
		t.Fatalf("a failed PUT changed the server:\n%s", d)
	}
	ts.call("PUT", "/api/servers/nope-00000000", `{}`).wantErr(t, http.StatusNotFound, "NOT_FOUND")
}

// waitNextSecond returns once the wall clock is past the second of t, so
// that a following change gets a later second-precision updatedAt.
func waitNextSecond(t time.Time) {
	time.Sleep(time.Until(t.Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
}

func TestAPIServerDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createServer("Doomed").str("serverId")
	r := ts.call("DELETE", "/api/servers/"+id, nil).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"message": "Server deleted", "serverId": id}, r.JSON); d != "" {
		t.Fatal(d)
	}
	ts.call("GET", "/api/servers/"+id, nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("DELETE", "/api/servers/"+id, nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("PUT", "/api/servers/"+id, `{}`).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	// The name is free again.
	ts.createServer("Doomed")
}

func TestAPIServerRegenerateToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.createServer("Regen")
	id, old := c.str("serverId"), c.str("accessToken")
	path := "/api/servers/" + id + "/regenerate-token"

	r := ts.call("POST", path, nil).want(t, http.StatusOK)
	tok := r.str("accessToken")
	if !reToken.MatchString(tok) || tok == old {
		t.Fatalf("new token %q (old %q)", tok, old)
	}
	if r.str("accessUrl") != ts.URL+"/mcp/"+id+"/"+tok || r.str("url") != ts.URL+"/mcp/"+id {
		t.Fatalf("accessUrl %q url %q", r.str("accessUrl"), r.str("url"))
	}
	if exp := parseTime(t, r.JSON["tokenExpiresAt"]); time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 90*24*time.Hour {
		t.Fatalf("default tokenExpiresAt %v", exp)
	}
	if g := ts.call("GET", "/api/servers/"+id, nil).want(t, http.StatusOK); g.str("accessUrl") != r.str("accessUrl") || strings.Contains(string(g.Body), old) {
		t.Fatalf("GET after regenerate: %s", g.Body)
	}
	r = ts.call("POST", path, `{"tokenExpiresInDays":30}`).want(t, http.StatusOK)
	if exp := parseTime(t, r.JSON["tokenExpiresAt"]); time.Until(exp) < 29*24*time.Hour || time.Until(exp) > 30*24*time.Hour {
		t.Fatalf("tokenExpiresAt for 30 days: %v", exp)
	}
	ts.call("POST", path, `{}`).want(t, http.StatusOK)
	for _, body := range []string{`{"tokenExpiresInDays":0}`, `{"tokenExpiresInDays":366}`, `{"tokenExpiresInDays":1.5}`,
		`{"tokenExpiresInDays":"3"}`, `{"other":1}`} {
		ts.call("POST", path, body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
	}
	ts.call("POST", "/api/servers/unknown-00000000/regenerate-token", nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
}

// Uniqueness holds under concurrency: of 20 simultaneous creates of one
// name exactly one wins, the others get 409 naming the field.
func TestAPIServerConcurrentCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const n = 20
	results := make(chan *resp, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			results <- ts.call("POST", "/api/servers", `{"name":"Racer"}`)
		}()
	}
	close(start)
	created := 0
	for range n {
		r := <-results
		switch {
		case r.Status == http.StatusCreated:
			created++
		case r.Status == http.StatusConflict && r.code() == "CONFLICT" && r.detail("field") == "name":
		default:
			t.Errorf("status %d body %s", r.Status, r.Body)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates won", created)
	}
}
