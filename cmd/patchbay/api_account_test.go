package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// §4.5 account settings and §16 audit log.

func TestAPIAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.call("GET", "/api/account", nil).want(t, http.StatusOK)
	created := r.str("createdAt")
	want := map[string]any{
		"accountId": "default", "name": "Default account", "allowedRedirectUris": []any{},
		"jwt": map[string]any{
			"hs256":      map[string]any{"currentKid": "hs256-1", "previousKid": nil, "previousValidUntil": nil},
			"publicKeys": map[string]any{"keys": []any{}},
		},
		"createdAt": created, "updatedAt": r.JSON["updatedAt"],
	}
	if d := cmp.Diff(want, r.JSON); d != "" || !reTimestamp.MatchString(created) {
		t.Fatalf("GET /api/account (-want +got):\n%s", d)
	}

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := ec.PublicKey.Bytes() // 0x04 || X || Y
	okp := map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "idp-2026", "alg": "EdDSA", "x": b64.EncodeToString(pub)}
	ecKey := map[string]any{"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256",
		"x": b64.EncodeToString(ecPub[1:33]), "y": b64.EncodeToString(ecPub[33:])}
	uris := []any{"https://app.example.com/integrations/callback", "http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"}
	waitNextSecond(parseTime(t, r.JSON["updatedAt"]))
	r = ts.call("PUT", "/api/account", map[string]any{"name": " Acme ", "allowedRedirectUris": uris,
		"jwtPublicKeys": map[string]any{"keys": []any{okp, ecKey}}}).want(t, http.StatusOK)
	if r.str("name") != "Acme" || cmp.Diff(uris, r.JSON["allowedRedirectUris"]) != "" || r.str("createdAt") != created || r.str("updatedAt") == created {
		t.Fatalf("PUT /api/account: %s", r.Body)
	}
	keys := r.JSON["jwt"].(map[string]any)["publicKeys"].(map[string]any)["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["kid"] != "idp-2026" || keys[1].(map[string]any)["kid"] != "ec-1" {
		t.Fatalf("publicKeys: %v", keys)
	}
	if d := cmp.Diff(r.JSON, ts.call("GET", "/api/account", nil).want(t, http.StatusOK).JSON); d != "" {
		t.Fatalf("GET after PUT:\n%s", d)
	}
	// Partial: an empty body and {} change nothing.
	for _, b := range []any{nil, `{}`} {
		if d := cmp.Diff(r.JSON, ts.call("PUT", "/api/account", b).want(t, http.StatusOK).JSON); d != "" {
			t.Fatalf("PUT %v changed the account:\n%s", b, d)
		}
	}
	// A registered EdDSA key verifies JWTs.
	now := time.Now().Unix()
	in := b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"idp-2026"}`)) + "." + b64.EncodeToString([]byte(claims("sub", "ext-1", "iss", "default", "exp", now+60)))
	ts.call("GET", "/api/servers", nil, bearer(in+"."+b64.EncodeToString(ed25519.Sign(priv, []byte(in))))...).want(t, http.StatusOK)
	ts.call("GET", "/api/servers", nil, bearer(in+".AAAA")...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")

	for _, tt := range []struct{ name, body, fieldPrefix string }{
		{"NameEmpty", `{"name":" "}`, "name"},
		{"Name101", `{"name":"` + strings.Repeat("a", 101) + `"}`, "name"},
		{"NameNull", `{"name":null}`, "name"},
		{"URIHTTP", `{"allowedRedirectUris":["http://app.example.com/cb"]}`, "allowedRedirectUris"},
		{"URIRelative", `{"allowedRedirectUris":["/cb"]}`, "allowedRedirectUris"},
		{"URIFragment", `{"allowedRedirectUris":["https://app.example.com/cb#x"]}`, "allowedRedirectUris"},
		{"URIUserinfo", `{"allowedRedirectUris":["https://user@app.example.com/cb"]}`, "allowedRedirectUris"},
		{"URIScheme", `{"allowedRedirectUris":["ftp://app.example.com/cb"]}`, "allowedRedirectUris"},
		{"URINotString", `{"allowedRedirectUris":[5]}`, "allowedRedirectUris"},
		{"URITooMany", `{"allowedRedirectUris":[` + strings.Repeat(`"https://a.example/x",`, 100) + `"https://a.example/x"]}`, "allowedRedirectUris"},
		{"JWKSPrivateD", fmt.Sprintf(`{"jwtPublicKeys":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA","x":%q,"d":%q}]}}`, okp["x"], okp["x"]), "jwtPublicKeys"},
		{"JWKSSymmetricK", `{"jwtPublicKeys":{"keys":[{"kty":"oct","kid":"k","alg":"HS256","k":"c2VjcmV0"}]}}`, "jwtPublicKeys"},
		{"JWKSPrivateRSA", `{"jwtPublicKeys":{"keys":[{"kty":"RSA","kid":"r","alg":"RS256","n":"AQAB","e":"AQAB","p":"AQAB","q":"AQAB"}]}}`, "jwtPublicKeys"},
		{"JWKSNoKid", fmt.Sprintf(`{"jwtPublicKeys":{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":%q}]}}`, okp["x"]), "jwtPublicKeys"},
		{"JWKSNoAlg", fmt.Sprintf(`{"jwtPublicKeys":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":%q}]}}`, okp["x"]), "jwtPublicKeys"},
		{"JWKSDuplicateKid", fmt.Sprintf(`{"jwtPublicKeys":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA","x":%q},{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA","x":%q}]}}`, okp["x"], okp["x"]), "jwtPublicKeys"},
		{"JWKSEleven", `{"jwtPublicKeys":{"keys":[` + strings.TrimSuffix(strings.Repeat(fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k%%d","alg":"EdDSA","x":%q},`, okp["x"]), 11), ",") + `]}}`, "jwtPublicKeys"},
		{"JWKSNotObject", `{"jwtPublicKeys":[]}`, "jwtPublicKeys"},
		{"Unknown", `{"accountId":"x"}`, "accountId"},
		{"CaseVariant", `{"Name":"x"}`, "Name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.name == "JWKSEleven" {
				var parts []any
				for i := range 11 {
					parts = append(parts, i)
				}
				body = fmt.Sprintf(body, parts...)
			}
			r := ts.call("PUT", "/api/account", body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
			if f, _ := r.detail("field").(string); !strings.HasPrefix(f, tt.fieldPrefix) {
				t.Fatalf("details.field %q, want it under %q", f, tt.fieldPrefix)
			}
		})
	}
	// null clears both lists.
	r = ts.call("PUT", "/api/account", `{"allowedRedirectUris":null,"jwtPublicKeys":null}`).want(t, http.StatusOK)
	if cmp.Diff([]any{}, r.JSON["allowedRedirectUris"]) != "" || cmp.Diff(map[string]any{"keys": []any{}}, r.JSON["jwt"].(map[string]any)["publicKeys"]) != "" {
		t.Fatalf("null did not clear: %s", r.Body)
	}
	// Another account's settings are separate.
	other := ts.newAccount("other")
	o := ts.call("GET", "/api/account", nil, bearer(other)...).want(t, http.StatusOK)
	if o.str("accountId") != "other" || o.str("name") != "Account other" {
		t.Fatalf("other account: %s", o.Body)
	}
}

func TestAPIAudit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// One change of every management kind.
	id := ts.createServer("Audited").str("serverId")
	ts.call("PUT", "/api/servers/"+id, `{"description":"x","cache":false}`).want(t, http.StatusOK)
	ts.call("PUT", "/api/servers/"+id, `{}`).want(t, http.StatusOK) // no change, no event
	ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil).want(t, http.StatusOK)
	other := ts.createServer("Other", "x-alloy-userid", "cust-1").str("serverId")
	ts.call("DELETE", "/api/servers/"+id, nil).want(t, http.StatusOK)
	k := ts.createKey("", map[string]any{"name": "audited", "role": "user", "userId": "cust-1"})
	ts.call("DELETE", "/api/keys/"+k.ID, nil).want(t, http.StatusOK)
	ts.mint("cust-9", `{"expiresInSeconds":60}`)
	ts.call("PUT", "/api/account", `{"name":"Renamed"}`).want(t, http.StatusOK)
	ts.rotate(60)
	user := ts.userKey("cust-2")
	ts.call("GET", "/api/keys", nil, bearer(user)...).want(t, http.StatusForbidden)
	ts.call("GET", "/api/servers", nil, hdrs(bearer(user), []string{"x-alloy-userid", "cust-3"})...).want(t, http.StatusForbidden)

	all := ts.call("GET", "/api/audit?limit=200", nil).want(t, http.StatusOK)
	if all.JSON["nextCursor"] != nil {
		t.Fatalf("nextCursor on the only page: %v", all.JSON["nextCursor"])
	}
	events := all.list("events")
	byType := map[string][]map[string]any{}
	for i, e := range events {
		byType[e["type"].(string)] = append(byType[e["type"].(string)], e)
		if !reEventID.MatchString(e["id"].(string)) || !reEventTime.MatchString(e["time"].(string)) || e["accountId"] != "default" {
			t.Fatalf("event shape: %v", e)
		}
		if i > 0 && e["time"].(string) > events[i-1]["time"].(string) {
			t.Fatal("events are not newest first")
		}
		for _, m := range []string{"id", "type", "time", "accountId", "actor", "userId", "serverId", "connectorId", "actionId",
			"credentialId", "requestId", "outcome", "errorCode", "durationMs", "clientIp", "details"} {
			if _, ok := e[m]; !ok {
				t.Fatalf("event lacks %s: %v", m, e)
			}
		}
	}
	for typ, n := range map[string]int{"server.created": 2, "server.updated": 1, "server.token_regenerated": 1, "server.deleted": 1,
		"key.created": 2, "key.deleted": 1, "user_token.minted": 1, "account.updated": 1, "account.jwt_secret_rotated": 1, "access.denied": 2} {
		if len(byType[typ]) != n {
			t.Errorf("%d %s events, want %d", len(byType[typ]), typ, n)
		}
	}
	if t.Failed() {
		t.Fatalf("events: %s", all.Body)
	}
	upd := byType["server.updated"][0]
	if d := cmp.Diff(map[string]any{"changedFields": []any{"description", "cache"}}, upd["details"]); d != "" {
		t.Fatalf("server.updated details:\n%s", d)
	}
	if upd["serverId"] != id || upd["outcome"] != "success" || upd["userId"] != "admin" || upd["connectorId"] != nil {
		t.Fatalf("server.updated: %v", upd)
	}
	actor := upd["actor"].(map[string]any)
	if actor["kind"] != "api_key" || !reKeyID.MatchString(actor["keyId"].(string)) || actor["userId"] != "admin" {
		t.Fatalf("actor %v", actor)
	}
	if rid, _ := upd["requestId"].(string); rid == "" || upd["clientIp"] != "127.0.0.1" {
		t.Fatalf("requestId %v clientIp %v", upd["requestId"], upd["clientIp"])
	}
	if d := cmp.Diff(map[string]any{"keyId": k.ID, "role": "user"}, byType["key.deleted"][0]["details"]); d != "" {
		t.Fatalf("key.deleted details:\n%s", d)
	}
	if d := byType["account.jwt_secret_rotated"][0]["details"].(map[string]any); d["kid"] != "hs256-2" {
		t.Fatalf("rotation details %v", d)
	}
	if d := byType["account.updated"][0]["details"].(map[string]any); cmp.Diff([]any{"name"}, d["changedFields"]) != "" {
		t.Fatalf("account.updated details %v", d)
	}
	if m := byType["user_token.minted"][0]; m["userId"] != "cust-9" || !reTimestamp.MatchString(m["details"].(map[string]any)["expiresAt"].(string)) {
		t.Fatalf("user_token.minted %v", m)
	}
	for _, d := range byType["access.denied"] {
		if d["outcome"] != "denied" || d["errorCode"] != "FORBIDDEN" {
			t.Fatalf("access.denied %v", d)
		}
	}
	// No secret in any event.
	for _, s := range []string{k.Key, ts.AdminKey, user} {
		if strings.Contains(string(all.Body), s) {
			t.Fatal("audit log contains an API key")
		}
	}

	// The request ID of a change is the event's.
	r := ts.call("PUT", "/api/servers/"+other, `{"name":"Other2"}`, "x-alloy-userid", "cust-1", "X-Request-Id", "trace.audit-1").want(t, http.StatusOK)
	if r.Header.Get("X-Request-Id") != "trace.audit-1" {
		t.Fatal("request ID not kept")
	}
	ev := ts.call("GET", "/api/audit?type=server.updated&limit=1", nil).want(t, http.StatusOK).list("events")
	if len(ev) != 1 || ev[0]["requestId"] != "trace.audit-1" || ev[0]["userId"] != "cust-1" {
		t.Fatalf("latest server.updated: %v", ev)
	}

	// Filters.
	count := func(q string) int {
		return len(ts.call("GET", "/api/audit?"+q, nil).want(t, http.StatusOK).list("events"))
	}
	for _, tt := range []struct {
		q    string
		want int
	}{
		{"type=server.*", 6},
		{"type=server.created", 2},
		{"type=server.", 0},
		{"type=key.*", 3},
		{"type=account.*", 2},
		{"type=nothing.*", 0},
		{"serverId=" + id, 4},
		{"serverId=" + other, 2},
		{"userId=cust-1", 2},
		{"userId=cust-9", 1},
		{"type=server.*&userId=cust-1", 2},
		{"type=server.*&serverId=" + id + "&limit=2", 2},
	} {
		t.Run("Filter/"+tt.q, func(t *testing.T) {
			if n := count(tt.q); n != tt.want {
				t.Fatalf("%d events, want %d", n, tt.want)
			}
		})
	}

	// Cursor paging walks every event exactly once, newest first.
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "/api/audit?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := ts.call("GET", q, nil).want(t, http.StatusOK)
		for _, e := range r.list("events") {
			paged = append(paged, e["id"].(string))
		}
		next, _ := r.JSON["nextCursor"].(string)
		if next == "" {
			if r.JSON["nextCursor"] != nil {
				t.Fatalf("nextCursor %v", r.JSON["nextCursor"])
			}
			break
		}
		if pages > 50 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	var ids []string
	for _, e := range ts.call("GET", "/api/audit?limit=200", nil).list("events") {
		ids = append(ids, e["id"].(string))
	}
	if d := cmp.Diff(ids, paged); d != "" {
		t.Fatalf("paged events differ from one page:\n%s", d)
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=x", "limit=", "cursor=garbage", "cursor=", "cursor=e30", "cursor=%7B%7D"} {
		t.Run("Bad/"+q, func(t *testing.T) {
			ts.call("GET", "/api/audit?"+q, nil).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
		})
	}
	ts.call("GET", "/api/audit?limit=1", nil).want(t, http.StatusOK)
	ts.call("GET", "/api/audit", nil, bearer(user)...).wantErr(t, http.StatusForbidden, "FORBIDDEN")

	// Another account sees none of these events.
	otherAcct := ts.newAccount("other")
	for _, e := range ts.call("GET", "/api/audit?limit=200", nil, bearer(otherAcct)...).want(t, http.StatusOK).list("events") {
		if e["accountId"] != "other" {
			t.Fatalf("other account sees %v", e)
		}
	}
}

// TestAPIAuditAuthFailed: a 401 whose account is known is an auth.failed
// event of that account.
func TestAPIAuditAuthFailed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, secret, _ := ts.rotate(0)
	now := time.Now().Unix()
	bad := hs256(secret, `{"alg":"HS256"}`, claims("userId", "u", "iss", "default", "iat", now-7200, "exp", now-3600))
	ts.call("GET", "/api/servers", nil, bearer(bad)...).want(t, http.StatusUnauthorized)
	ev := ts.call("GET", "/api/audit?type=auth.failed", nil).want(t, http.StatusOK).list("events")
	if len(ev) != 1 || ev[0]["outcome"] != "failure" || ev[0]["details"].(map[string]any)["reason"] != "token_expired" {
		t.Fatalf("auth.failed events: %v", ev)
	}
	if strings.Contains(fmt.Sprint(ev), bad) {
		t.Fatal("the event holds the token")
	}
}
