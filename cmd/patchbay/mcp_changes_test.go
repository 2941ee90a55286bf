package main

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// Management changes that the MCP face must apply before the management
// response is returned (§17.6: the handling instance applies a change
// before responding), beyond tokens and servers (mcp_tokens_test.go).

// A deleted credential is never selected again, and a connector deleted
// with force=true takes its credentials along: a connector of the same ID
// created afterwards starts without credentials (§11.4, §12.3).
func TestMCPDeletedCredentialsStayDeleted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	as := []string{"x-alloy-userid", "alice"}
	_, url := ts.mcpServer(map[string]any{"name": "Changes", "rateLimit": map[string]any{"requestsPerMinute": 100000}}, as...)
	exec := func(marker string, extra ...string) *toolResult {
		args := map[string]any{"connectorId": "acme-fake", "actionId": "notes_create", "parameters": map[string]any{"text": marker}}
		if len(extra) == 2 {
			args[extra[0]] = extra[1]
		}
		return callTool(t, url, "execute_action_alloy", args)
	}

	// DELETE /api/credentials/{id}.
	cred := ts.storeCredential("acme-fake", "apiKey", "sk-alice-1", "", as...)
	p.expect("sk-alice-1", "alice-1")
	exec("warm").wantOK(t) // the candidate list is now cached
	ts.call("DELETE", "/api/credentials/"+cred, nil, as...).want(t, http.StatusOK)
	exec("after-delete").wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	exec("after-delete-explicit", "credentialId", cred).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	if p.sawMarker("after-delete") {
		t.Fatal("a deleted credential reached the platform")
	}

	// DELETE /api/connectors/{id}?force=true, then the same ID again.
	cred = ts.storeCredential("acme-fake", "apiKey", "sk-alice-2", "", as...)
	p.expect("sk-alice-2", "alice-2")
	exec("warm-2").wantOK(t)
	ts.call("DELETE", "/api/connectors/acme-fake", nil).want(t, http.StatusConflict)
	ts.call("DELETE", "/api/connectors/acme-fake?force=true", nil).want(t, http.StatusOK)
	exec("gone").wantErr(t, "CONNECTOR_NOT_FOUND")
	ts.createConnector(connectorDef("acme-fake", "Acme Fake Again", p.URL))
	exec("recreated").wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	exec("recreated-explicit", "credentialId", cred).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	if p.sawMarker("recreated") {
		t.Fatal("a credential deleted with its connector reached the platform")
	}
	creds := callTool(t, url, "get_credentials_alloy", map[string]any{}).wantOK(t)
	if creds.Structured["count"] != float64(0) {
		t.Fatalf("credentials after the forced delete: %s", creds.Raw.Body)
	}
}

// A user who gets an API key is no longer accepted as an unverified
// identity (§6.5 a), from the key's creation on.
func TestMCPNewKeyHolderIsNotAnUnverifiedIdentity(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Open Door", "isPublic": true, "allowUnverifiedUserIds": true})
	mcpPost(t, url, ping, "x-alloy-userid", "dave").wantSSE(t)
	ts.userKey("dave")
	r := mcpPost(t, url, ping, "x-alloy-userid", "dave")
	if r.Status != http.StatusForbidden || r.envDetail("reason") != "user_not_allowed" {
		t.Fatalf("a key holder as an unverified identity: %d %s", r.Status, r.Body)
	}
}

// Concurrent JWT verifications across the expiry of authn's cached account
// keys, for the race detector (the isolation fuzz found a data race on the
// entry's expiry, fixed in authn).
func TestMCPJWTCacheRefreshRace(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.ConfigCacheTTL = time.Millisecond })
	id, _ := ts.mcpServer(map[string]any{"name": "JWT Race", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	jwt := ts.mint("admin", nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if r, err := mcpTry(ts.URL+"/mcp/"+id, ping, "Authorization", "Bearer "+jwt); err != nil || r.Status != http.StatusOK {
					t.Errorf("JWT request: %v %v", err, r)
					return
				}
			}
		}()
	}
	wg.Wait()
}
