package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// End-to-end credential tests through the whole program: the OAuth life of
// a credential over MCP and REST against a fake authorization server, the
// isolation of credentials between users, accounts and servers, a leak scan
// of every log line, response, audit record and database file, and key
// rotation with the real binary.

// meGet executes ofake's me_get through the MCP token URL.
func meGet(t *testing.T, seen *seenBodies, mcpURL string, args map[string]any, headers ...string) *toolResult {
	t.Helper()
	a := map[string]any{"connectorId": "ofake", "actionId": "me_get", "parameters": map[string]any{}}
	for k, v := range args {
		a[k] = v
	}
	return seen.tool("execute_action_alloy", callTool(t, mcpURL, "execute_action_alloy", a, headers...))
}

func TestE2ECredentialsOAuthLifecycle(t *testing.T) {
	t.Parallel()
	ts, p, secrets := credTestServer(t, false)
	seen := &seenBodies{}
	b := newBrowser(t, seen)
	alice := ts.userKey("alice")
	_, mcpURL := ts.mcpServer(map[string]any{"name": "Alice bot", "cache": false}, bearer(alice)...)

	// Secrets that go in through REST join the canaries.
	apiKey := secrets.add("API-key value", secretValue("ak-"))
	pin := secrets.add("secret extra field", "9"+secretValue("")[:3]) // not a valid pin: refused, never echoed
	seen.api("POST /api/credentials", ts.call("POST", "/api/credentials", map[string]any{"connectorId": "ofake", "authenticationType": "apiKey",
		"fields": map[string]string{"apiKey": apiKey, "region": "us", "pin": pin}}, bearer(alice)...)).want(t, http.StatusBadRequest)
	keyCred := seen.api("POST /api/credentials", ts.call("POST", "/api/credentials", map[string]any{"connectorId": "ofake", "authenticationType": "apiKey",
		"fields": map[string]string{"apiKey": apiKey, "region": "us", "pin": "4321"}}, bearer(alice)...)).want(t, http.StatusCreated).str("credentialId")
	seen.api("DELETE /api/credentials", ts.call("DELETE", "/api/credentials/"+keyCred, nil, bearer(alice)...)).want(t, http.StatusOK)

	// No credential yet.
	tr := meGet(t, seen, mcpURL, nil).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	if h, _ := tr.detail("hint").(string); !strings.Contains(h, "create_credential_alloy") {
		t.Fatalf("hint %q", h)
	}

	// Connect over MCP.
	cr := seen.tool("create_credential_alloy", callTool(t, mcpURL, "create_credential_alloy", map[string]any{"connectorId": "ofake", "authenticationType": "oauth2"})).wantOK(t)
	oauthURL, _ := cr.Structured["oauthUrl"].(string)
	if !regexpStart(ts.URL).MatchString(oauthURL) || cr.Structured["expiresAt"] == nil {
		t.Fatalf("create_credential_alloy: %v", cr.Structured)
	}
	// Fetching the link (an unfurler) does not consume it; a POST without
	// the CSRF cookie is refused and does not consume it either.
	if res, _ := newBrowser(t, seen).get(oauthURL); res.StatusCode != http.StatusOK {
		t.Fatalf("unfurl: %d", res.StatusCode)
	}
	action, csrf := newBrowser(t, seen).confirm(oauthURL)
	if res, _ := newBrowser(t, seen).postForm(action, url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without the CSRF cookie: %d", res.StatusCode)
	}
	q := b.connect(oauthURL)
	credID := q.Get("credentialId")
	if q.Get("status") != "success" || !regexpCred.MatchString(credID) || q.Get("connectorId") != "ofake" {
		t.Fatalf("connect: %v", q)
	}
	// The link is single use.
	if res, _ := b.get(oauthURL); res.StatusCode != http.StatusGone {
		t.Fatalf("used link: %d", res.StatusCode)
	}
	if res, body := b.get(ts.URL + "/oauth/done?" + q.Encode()); res.StatusCode != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("done page: %d %s", res.StatusCode, body)
	}
	list := seen.tool("get_credentials_alloy", callTool(t, mcpURL, "get_credentials_alloy", map[string]any{"connectorId": "ofake"})).wantOK(t)
	creds, _ := list.Structured["credentials"].([]any)
	if len(creds) != 1 || creds[0].(map[string]any)["credentialId"] != credID || creds[0].(map[string]any)["status"] != "active" {
		t.Fatalf("get_credentials_alloy: %v", list.Structured)
	}

	tokenNumber := func(tr *toolResult) float64 {
		t.Helper()
		tr.wantOK(t)
		if tr.Meta["patchbay/credentialId"] != credID {
			t.Fatalf("_meta %v", tr.Meta)
		}
		n, _ := tr.Structured["tokenNumber"].(float64)
		return n
	}
	// The access token of the flow is used.
	if n := tokenNumber(meGet(t, seen, mcpURL, nil)); n != 1 {
		t.Fatalf("first call used token %v", n)
	}
	// The platform stops accepting it before its expiry: one refresh, one
	// resend (§13.5), transparently. The new token lives 30 s.
	p.setTTL(3600, 30)
	p.expireAccess()
	if n := tokenNumber(meGet(t, seen, mcpURL, map[string]any{"credentialId": credID})); n != 2 || p.refreshes.Load() != 1 {
		t.Fatalf("after a 401: token %v, %d refreshes", n, p.refreshes.Load())
	}
	// Less than 60 s left: refreshed before the call, without a 401.
	calls := p.apiCalls.Load()
	if n := tokenNumber(meGet(t, seen, mcpURL, nil)); n != 3 || p.refreshes.Load() != 2 || p.apiCalls.Load() != calls+1 {
		t.Fatalf("near expiry: token %v, %d refreshes, %d platform calls", n, p.refreshes.Load(), p.apiCalls.Load()-calls)
	}
	if c := seen.api("GET /api/credentials/{id}", ts.call("GET", "/api/credentials/"+credID, nil, bearer(alice)...)); c.str("status") != "active" {
		t.Fatalf("after refreshes: %s", c.Body)
	}

	// The user disconnects at the provider: the next refresh is refused.
	p.revokeRefresh()
	calls = p.apiCalls.Load()
	tr = meGet(t, seen, mcpURL, nil).wantErr(t, "CREDENTIAL_NOT_FOUND", "needs_reauth")
	reauth, _ := tr.detail("oauthUrl").(string)
	if tr.detail("credentialId") != credID || !regexpStart(ts.URL).MatchString(reauth) || reauth == oauthURL || tr.detail("oauthUrlExpiresAt") == nil {
		t.Fatalf("needs_reauth: %s", tr.Raw.Body)
	}
	if p.apiCalls.Load() != calls {
		t.Fatal("the platform was called with a token that could not be refreshed")
	}
	if c := ts.call("GET", "/api/credentials/"+credID, nil, bearer(alice)...); c.str("status") != "needs_reauth" {
		t.Fatalf("status: %s", c.Body)
	}
	// An explicit ID of the non-active credential says the same.
	meGet(t, seen, mcpURL, map[string]any{"credentialId": credID}).wantErr(t, "CREDENTIAL_NOT_FOUND", "needs_reauth")

	// Reconnecting through the new link restores the same credential.
	q = b.connect(reauth)
	if q.Get("status") != "success" || q.Get("credentialId") != credID {
		t.Fatalf("reconnect: %v", q)
	}
	p.setTTL(3600, 3600)
	if n := tokenNumber(meGet(t, seen, mcpURL, nil)); n != 4 {
		t.Fatalf("after reconnect: token %v", n)
	}

	// Connect over REST too, as another user, through the same program.
	bob := ts.userKey("bob")
	_, bobURL := ts.mcpServer(map[string]any{"name": "Bob bot", "cache": false}, bearer(bob)...)
	r := seen.api("POST /api/connectors/ofake/credentials", ts.call("POST", "/api/connectors/ofake/credentials", map[string]any{"authenticationType": "oauth2"}, bearer(bob)...)).
		want(t, http.StatusOK)
	bq := newBrowser(t, seen).connect(r.str("oauthUrl"))
	bobCred := bq.Get("credentialId")
	if bq.Get("status") != "success" || bobCred == credID {
		t.Fatalf("REST connect: %v", bq)
	}
	if tr := meGet(t, seen, bobURL, nil).wantOK(t); tr.Meta["patchbay/credentialId"] != bobCred || tr.Structured["tokenNumber"] != 5.0 {
		t.Fatalf("bob's call: %v %v", tr.Meta, tr.Structured)
	}
	seen.api("GET /api/credentials", ts.call("GET", "/api/credentials", nil, bearer(bob)...))

	// Deleting an OAuth credential revokes its refresh token at the provider.
	seen.api("DELETE /api/credentials", ts.call("DELETE", "/api/credentials/"+bobCred, nil, bearer(bob)...)).want(t, http.StatusOK)
	if rv := p.revokedTokens(); len(rv) != 1 || !strings.HasPrefix(rv[0], "rt-") {
		t.Fatalf("revoked at the provider: %d tokens", len(rv))
	}
	meGet(t, seen, bobURL, nil).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")

	// The audit trail of the life.
	events, raw := ts.auditEvents("&type=credential.*")
	seen.add("GET /api/audit", nil, raw)
	var life []string
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e["credentialId"] != credID {
			continue
		}
		s := e["type"].(string)
		if d, ok := e["details"].(map[string]any); ok && d["to"] != nil {
			s += ":" + d["from"].(string) + "->" + d["to"].(string)
		}
		life = append(life, s)
	}
	// Events of the same instant may come in either order.
	sort.Strings(life)
	want := []string{"credential.created", "credential.refresh_failed", "credential.refreshed", "credential.refreshed",
		"credential.status_changed:active->needs_reauth", "credential.status_changed:needs_reauth->active"}
	if d := cmp.Diff(want, life); d != "" {
		t.Fatalf("audit of the credential (-want +got):\n%s", d)
	}
	flows, raw := ts.auditEvents("&type=oauth.*")
	seen.add("GET /api/audit", nil, raw)
	if len(flows) < 6 {
		t.Fatalf("oauth.* events: %d", len(flows))
	}
	_, raw = ts.auditEvents("")
	seen.add("GET /api/audit", nil, raw)

	// The leak scan: every canary, everywhere.
	if secrets.count() < 12 {
		t.Fatalf("only %d canaries were collected", secrets.count())
	}
	seen.scan(t, secrets)
	secrets.scan(t, "the log", []byte(ts.logs.String()))
	if !strings.Contains(ts.logs.String(), `"level":"DEBUG"`) {
		t.Fatal("the log has no debug lines: the scan would prove little")
	}
	for name, data := range dbFiles(t, ts.cfg.DataDir) {
		secrets.scan(t, name, data)
	}
}

func TestE2ECredentialsIsolation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("iso", "Iso", p.URL))
	acme := ts.newAccount("acme")
	ts.createConnector(connectorDef("iso", "Iso", p.URL), bearer(acme)...)
	alice, bob := ts.userKey("alice"), ts.userKey("bob")
	keyA, keyB, keyAcme := secretValue("ka-"), secretValue("kb-"), secretValue("kc-")
	p.expect(keyA, "alice")
	p.expect(keyB, "bob")
	p.expect(keyAcme, "acme")
	credA := ts.storeCredential("iso", "apiKey", keyA, "", bearer(alice)...)
	credAcme := ts.storeCredential("iso", "apiKey", keyAcme, "", hdrs(bearer(acme), []string{"x-alloy-userid", "alice"})...)
	_, aliceURL := ts.mcpServer(map[string]any{"name": "A"}, bearer(alice)...)
	_, bobURL := ts.mcpServer(map[string]any{"name": "B"}, bearer(bob)...)
	_, acmeURL := ts.mcpServer(map[string]any{"name": "C"}, hdrs(bearer(acme), []string{"x-alloy-userid", "alice"})...)
	exec := func(url string, args map[string]any, headers ...string) *toolResult {
		a := map[string]any{"connectorId": "iso", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}}
		for k, v := range args {
			a[k] = v
		}
		return callTool(t, url, "execute_action_alloy", a, headers...)
	}
	if tr := exec(aliceURL, nil).wantOK(t); tr.Structured["owner"] != "alice" {
		t.Fatalf("alice: %v", tr.Structured)
	}

	rest := []struct {
		name    string
		headers []string
	}{
		{"user B", bearer(bob)},
		{"admin acting as B", hdrs(bearer(ts.AdminKey), []string{"x-alloy-userid", "bob"})},
		{"admin as itself", nil},
		{"another account's admin as alice", hdrs(bearer(acme), []string{"x-alloy-userid", "alice"})},
	}
	for _, tt := range rest {
		t.Run("REST "+tt.name, func(t *testing.T) {
			l := ts.call("GET", "/api/credentials", nil, tt.headers...).want(t, http.StatusOK)
			for _, c := range l.list("credentials") {
				if c["credentialId"] == credA {
					t.Fatalf("listed: %s", l.Body)
				}
			}
			ts.call("GET", "/api/credentials/"+credA, nil, tt.headers...).wantErr(t, http.StatusNotFound, "NOT_FOUND")
			ts.call("DELETE", "/api/credentials/"+credA, nil, tt.headers...).wantErr(t, http.StatusNotFound, "NOT_FOUND")
		})
	}
	// A user key cannot act as another user.
	ts.call("GET", "/api/credentials", nil, hdrs(bearer(bob), []string{"x-alloy-userid", "alice"})...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
	ts.call("GET", "/api/credentials/"+credA, nil, bearer(alice)...).want(t, http.StatusOK)

	calls := p.callCount()
	t.Run("MCP credentialId of another user", func(t *testing.T) {
		tr := exec(bobURL, map[string]any{"credentialId": credA}).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
		if tr.detail("credentialId") != credA {
			t.Fatalf("details: %s", tr.Raw.Body)
		}
	})
	t.Run("MCP x-credential-id of another user", func(t *testing.T) {
		exec(bobURL, nil, "x-credential-id", credA).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	})
	t.Run("MCP another account's credential", func(t *testing.T) {
		exec(acmeURL, map[string]any{"credentialId": credA}).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
		exec(aliceURL, map[string]any{"credentialId": credAcme}).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	})
	t.Run("MCP get_credentials_alloy of B", func(t *testing.T) {
		l := callTool(t, bobURL, "get_credentials_alloy", map[string]any{}).wantOK(t)
		if l.Structured["count"] != 0.0 {
			t.Fatalf("bob lists %v", l.Structured)
		}
	})
	if p.callCount() != calls {
		t.Fatalf("another user's credential reached the platform: %+v", p.lastCall())
	}
	// With a credential of their own, B's foreign header is ignored and B's
	// own credential is used.
	credB := ts.storeCredential("iso", "apiKey", keyB, "", bearer(bob)...)
	if tr := exec(bobURL, nil, "x-credential-id", credA).wantOK(t); tr.Structured["owner"] != "bob" || tr.Meta["patchbay/credentialId"] != credB {
		t.Fatalf("bob with alice's header: %v %v", tr.Structured, tr.Meta)
	}
	if tr := exec(acmeURL, nil).wantOK(t); tr.Structured["owner"] != "acme" {
		t.Fatalf("acme's alice: %v", tr.Structured)
	}

	// Unverified identities on a public server see only credentials bound
	// to that server.
	pubID, pubURL := ts.mcpServer(map[string]any{"name": "Public", "isPublic": true, "allowUnverifiedUserIds": true})
	_, pub2URL := ts.mcpServer(map[string]any{"name": "Public 2", "isPublic": true, "allowUnverifiedUserIds": true})
	visitor := []string{"x-alloy-userid", "visitor-9"}
	unbound := ts.storeCredential("iso", "apiKey", secretValue("kv-"), "", "x-alloy-userid", "visitor-9")
	exec(pubURL, nil, visitor...).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	exec(pubURL, map[string]any{"credentialId": unbound}, visitor...).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	if l := callTool(t, pubURL, "get_credentials_alloy", map[string]any{}, visitor...).wantOK(t); l.Structured["count"] != 0.0 {
		t.Fatalf("unbound credential listed: %v", l.Structured)
	}
	// The visitor connects through the server's credential form.
	cr := callTool(t, pubURL, "create_credential_alloy", map[string]any{"connectorId": "iso", "authenticationType": "apiKey"}, visitor...).wantOK(t)
	formURL, _ := cr.Structured["credentialFormUrl"].(string)
	if !strings.HasPrefix(formURL, ts.URL+"/oauth/form/") {
		t.Fatalf("create_credential_alloy: %v", cr.Structured)
	}
	keyV := secretValue("kv-")
	p.expect(keyV, "visitor")
	br := newBrowser(t, nil)
	action, csrf := br.confirm(formURL)
	res, body := br.postForm(action, url.Values{"csrf": {csrf}, "apiKey": {keyV}})
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc.Query().Get("status") != "success" {
		t.Fatalf("form: %d %s %s", res.StatusCode, loc, body)
	}
	bound := loc.Query().Get("credentialId")
	l := callTool(t, pubURL, "get_credentials_alloy", map[string]any{}, visitor...).wantOK(t)
	if cs, _ := l.Structured["credentials"].([]any); len(cs) != 1 || cs[0].(map[string]any)["credentialId"] != bound || cs[0].(map[string]any)["boundServerId"] != pubID {
		t.Fatalf("bound credential: %v", l.Structured)
	}
	if tr := exec(pubURL, nil, visitor...).wantOK(t); tr.Structured["owner"] != "visitor" {
		t.Fatalf("visitor: %v", tr.Structured)
	}
	// The same identity on another public server sees nothing.
	exec(pub2URL, nil, visitor...).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	exec(pub2URL, map[string]any{"credentialId": bound}, visitor...).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	exec(pub2URL, nil, "x-alloy-userid", "visitor-9", "x-credential-id", bound).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	// Over REST the verified user sees both, the bound one with its server.
	vl := ts.call("GET", "/api/credentials", nil, "x-alloy-userid", "visitor-9").want(t, http.StatusOK)
	if vl.num("count") != 2 {
		t.Fatalf("visitor over REST: %s", vl.Body)
	}
}

func TestE2ECredentialsKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plat := newPlatform(t)
	secrets := newCanaries()
	apiKey := secrets.add("API-key value", secretValue("ak-"))
	plat.expect(apiKey, "ada")
	clientSecret := secrets.add("client secret", secretValue("cs-"))
	prov := newProvider(t, secrets, "pb-client", clientSecret)
	oldKey := masterKey(11)
	env := []string{"PATCHBAY_MASTER_KEY=" + oldKey, "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
	// The public URL follows the bound port, so that the browser reaches
	// the callback; access URLs are read again after each start.
	args := serveArgs(dir, "--ssrf-allow", "127.0.0.1", "--log-level", "debug")
	p := serve(t, env, args...)
	prov.redirectURI = p.URL + "/oauth/callback"
	c := p.client(e2eAdminKey)
	c.call("POST", "/api/connectors", connectorDef("plat", "Plat", plat.URL)).want(t, http.StatusCreated)
	c.call("POST", "/api/connectors", oauthConnectorDef("ofake", prov)).want(t, http.StatusCreated)
	c.call("PUT", "/api/connectors/ofake/oauth-app", map[string]any{"clientId": "pb-client", "clientSecret": clientSecret}).want(t, http.StatusOK)
	keyCred := c.call("POST", "/api/credentials", map[string]any{"connectorId": "plat", "authenticationType": "apiKey",
		"fields": map[string]string{"apiKey": apiKey}}).want(t, http.StatusCreated).str("credentialId")
	serverID := c.call("POST", "/api/servers", map[string]any{"name": "Rot", "cache": false}).want(t, http.StatusCreated).str("serverId")
	start := c.call("POST", "/api/connectors/ofake/credentials", map[string]any{"authenticationType": "oauth2"}).want(t, http.StatusOK).str("oauthUrl")
	q := newBrowser(t, nil).connect(start)
	oauthCred := q.Get("credentialId")
	if q.Get("status") != "success" {
		t.Fatalf("connect: %v", q)
	}
	works := func(p *proc, what string) {
		t.Helper()
		mcpURL := p.client(e2eAdminKey).call("GET", "/api/servers/"+serverID, nil).want(t, http.StatusOK).str("accessUrl")
		tr := callTool(t, mcpURL, "execute_action_alloy", map[string]any{"connectorId": "plat", "actionId": "items_get", "parameters": map[string]any{"itemId": "7"}})
		if tr.IsError || tr.Structured["owner"] != "ada" || tr.Meta["patchbay/credentialId"] != keyCred {
			t.Fatalf("%s, API key: %s", what, tr.Raw.Body)
		}
		tr = callTool(t, mcpURL, "execute_action_alloy", map[string]any{"connectorId": "ofake", "actionId": "me_get", "parameters": map[string]any{}})
		if tr.IsError || tr.Structured["user"] != "ada" || tr.Meta["patchbay/credentialId"] != oauthCred {
			t.Fatalf("%s, OAuth: %s", what, tr.Raw.Body)
		}
	}
	works(p, "before rotation")
	// Rotation while the server runs: it keeps decrypting, and a refresh
	// seals the new tokens under the new data key.
	code, out, errOut := command(t, env, "keys", "rotate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "data key version 2") {
		t.Fatalf("keys rotate (running): %d %s %s", code, out, errOut)
	}
	works(p, "after a rotation while running")
	prov.expireAccess()
	works(p, "after a refresh under the new data key")
	if prov.refreshes.Load() != 1 {
		t.Fatalf("%d refreshes", prov.refreshes.Load())
	}
	if p.stop(syscall.SIGTERM) != 0 {
		t.Fatal("serve did not exit cleanly")
	}
	secrets.scan(t, "the server's output", []byte(p.stderr.String()))
	for name, data := range dbFiles(t, dir) {
		secrets.scan(t, name, data)
	}
	// Rotation with the server stopped.
	code, out, errOut = command(t, env, "keys", "rotate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "data key version 3") {
		t.Fatalf("keys rotate (stopped): %d %s %s", code, out, errOut)
	}
	p = serve(t, env, args...)
	works(p, "after a rotation while stopped")
	p.stop(syscall.SIGTERM)

	// A new master key: the old one no longer opens the data keys.
	newKey := masterKey(12)
	f := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(f, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = command(t, env, "keys", "rotate", "--master", "--new-master-key-file", f, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("keys rotate --master: %d %s %s", code, out, errOut)
	}
	if pr, code := tryServe(t, env, args...); pr != nil || code != 3 {
		t.Fatalf("old master key: exit %d, want 3", code)
	}
	p = serve(t, []string{"PATCHBAY_MASTER_KEY=" + newKey}, args...)
	works(p, "under the new master key")
	p.stop(syscall.SIGTERM)
	if secrets.count() < 6 {
		t.Fatalf("only %d canaries", secrets.count())
	}
	secrets.scan(t, "the server's output", []byte(p.stderr.String()))
	for name, data := range dbFiles(t, dir) {
		secrets.scan(t, name, data)
	}
}

func TestE2ECredentialsRevokedByAppChange(t *testing.T) {
	t.Parallel()
	ts, p, _ := credTestServer(t, false)
	seen := &seenBodies{}
	alice := ts.userKey("alice")
	_, mcpURL := ts.mcpServer(map[string]any{"name": "Alice bot", "cache": false}, bearer(alice)...)
	// The app's scopes are what the flow asks for.
	ts.call("PUT", "/api/connectors/ofake/oauth-app", map[string]any{"clientId": "pb-client", "scopes": []string{"me.read"}}).want(t, http.StatusOK)
	cr := callTool(t, mcpURL, "create_credential_alloy", map[string]any{"connectorId": "ofake", "authenticationType": "oauth2"}).wantOK(t)
	q := newBrowser(t, nil).connect(cr.Structured["oauthUrl"].(string))
	credID := q.Get("credentialId")
	p.mu.Lock()
	scope := p.authorize[len(p.authorize)-1].Get("scope")
	p.mu.Unlock()
	if scope != "me.read" {
		t.Fatalf("authorize scope %q", scope)
	}
	if c := ts.call("GET", "/api/credentials/"+credID, nil, bearer(alice)...); !jsonEqual(c.JSON["scopes"], []string{"me.read"}) {
		t.Fatalf("granted scopes: %s", c.Body)
	}
	meGet(t, seen, mcpURL, nil).wantOK(t)

	// A new clientId revokes the credential; the next call says so at once
	// (the instance that made the change applies it before responding, §17.6).
	p.clientID, p.secret = "pb-client-2", "second-secret"
	ts.call("PUT", "/api/connectors/ofake/oauth-app", map[string]any{"clientId": "pb-client-2", "clientSecret": "second-secret"}).want(t, http.StatusOK)
	if c := ts.call("GET", "/api/credentials/"+credID, nil, bearer(alice)...); c.str("status") != "revoked" {
		t.Fatalf("status after a clientId change: %s", c.Body)
	}
	calls := p.apiCalls.Load()
	t.Run("revoked at once over MCP", func(t *testing.T) {
		tr := meGet(t, seen, mcpURL, nil)
		tr.wantErr(t, "CREDENTIAL_NOT_FOUND", "revoked")
		u, _ := tr.detail("oauthUrl").(string)
		if tr.detail("credentialId") != credID || !regexpStart(ts.URL).MatchString(u) {
			t.Fatalf("revoked: %s", tr.Raw.Body)
		}
		if p.apiCalls.Load() != calls {
			t.Fatal("a revoked credential reached the platform")
		}
		// Reconnecting through the link restores it under the new client.
		q := newBrowser(t, nil).connect(u)
		if q.Get("credentialId") != credID || q.Get("status") != "success" {
			t.Fatalf("reconnect: %v", q)
		}
		meGet(t, seen, mcpURL, nil).wantOK(t)
	})

	// Deleting the app revokes as well.
	ts.call("DELETE", "/api/connectors/ofake/oauth-app", nil).want(t, http.StatusOK)
	if c := ts.call("GET", "/api/credentials/"+credID, nil, bearer(alice)...); c.str("status") != "revoked" {
		t.Fatalf("status after the app was deleted: %s", c.Body)
	}
	events, _ := ts.auditEvents("&type=credential.status_changed")
	n := 0
	for _, e := range events {
		if e["credentialId"] == credID && e["details"].(map[string]any)["to"] == "revoked" {
			n++
		}
	}
	if n == 0 {
		t.Fatal("the revocation by the app change was not audited as credential.status_changed")
	}
}
