package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The audit events of the MCP face (§16): tool.called, action.executed,
// access.denied, auth.failed and rate.limited, with the request's ID and
// never an argument value.

// mcpAuditEvents polls GET /api/audit until fn accepts the events of the
// server (the gateway writes them in batches, off the request path).
func (ts *testServer) mcpAuditEvents(t *testing.T, serverID string, fn func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ts.call("GET", "/api/audit?limit=200&serverId="+serverID, nil).want(t, http.StatusOK)
		var events []map[string]any
		for _, e := range r.JSON["events"].([]any) {
			events = append(events, e.(map[string]any))
		}
		if fn(events) {
			return events
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(events)
			t.Fatalf("audit events never matched: %s", b)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func mcpOfType(events []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, e := range events {
		if e["type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestMCPAudit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	as := []string{"x-alloy-userid", "alice"}
	cred := ts.storeCredential("acme-fake", "apiKey", "sk-audit", "", as...)
	p.expect("sk-audit", "alice")
	id, url := ts.mcpServer(map[string]any{"name": "Audited", "rateLimit": map[string]any{"requestsPerMinute": 8},
		"restrictions": map[string]any{"actions": map[string]any{"blockedActions": []string{"items_delete"}}}}, as...)
	const secretValue = "param-value-never-audited"

	call := func(action string) *mcpResp {
		return mcpPost(t, url, rpcBody("tools/call", map[string]any{"name": "execute_action_alloy", "arguments": map[string]any{
			"connectorId": "acme-fake", "actionId": action, "parameters": map[string]any{"itemId": secretValue}}}))
	}
	ok := call("items_get")
	ok.tool(t).wantOK(t)
	call("items_get").tool(t).wantOK(t) // a cache hit
	call("items_delete").tool(t).wantErr(t, "FORBIDDEN", "action_not_allowed")
	mcpPost(t, strings.Replace(url, "/mcp_token_", "/mcp_token_X", 1), ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	for range 8 {
		mcpPost(t, url, ping)
	}

	events := ts.mcpAuditEvents(t, id, func(ev []map[string]any) bool {
		return len(mcpOfType(ev, "tool.called")) == 3 && len(mcpOfType(ev, "action.executed")) == 2 && len(mcpOfType(ev, "access.denied")) == 1 &&
			len(mcpOfType(ev, "auth.failed")) == 1 && len(mcpOfType(ev, "rate.limited")) == 1
	})
	b, _ := json.Marshal(events)
	if strings.Contains(string(b), secretValue) || strings.Contains(string(b), "sk-audit") {
		t.Fatalf("an argument value or secret is in the audit log: %s", b)
	}
	for _, e := range mcpOfType(events, "tool.called") {
		d := e["details"].(map[string]any)
		names := []string{}
		for _, n := range d["argumentNames"].([]any) {
			names = append(names, n.(string))
		}
		if d["tool"] != "execute_action_alloy" || !slices.Equal(names, []string{"actionId", "connectorId", "parameters"}) {
			t.Errorf("tool.called details %v", d)
		}
		actor := e["actor"].(map[string]any)
		if actor["kind"] != "server_token" || e["userId"] != "alice" || e["serverId"] != id {
			t.Errorf("tool.called identity %v", e)
		}
	}
	var hits []bool
	for _, e := range mcpOfType(events, "action.executed") {
		d := e["details"].(map[string]any)
		hits = append(hits, d["cacheHit"].(bool))
		if e["connectorId"] != "acme-fake" || e["actionId"] != "items_get" || e["credentialId"] != cred || d["upstreamStatus"] != float64(200) || e["outcome"] != "success" {
			t.Errorf("action.executed %v", e)
		}
		if e["requestId"] == ok.Header.Get("X-Request-Id") && d["cacheHit"] != false {
			t.Errorf("the first call is recorded as a cache hit: %v", e)
		}
	}
	if !slices.Contains(hits, true) || !slices.Contains(hits, false) {
		t.Errorf("cache hits %v, want one miss and one hit", hits)
	}
	denied := mcpOfType(events, "access.denied")[0]
	if denied["details"].(map[string]any)["reason"] != "action_not_allowed" || denied["actionId"] != "items_delete" || denied["outcome"] != "denied" {
		t.Errorf("access.denied %v", denied)
	}
	if f := mcpOfType(events, "auth.failed")[0]; f["accountId"] != "default" || f["errorCode"] != "UNAUTHORIZED" {
		t.Errorf("auth.failed %v", f)
	}
	if rl := mcpOfType(events, "rate.limited")[0]; rl["details"].(map[string]any)["limit"] != float64(8) {
		t.Errorf("rate.limited %v", rl)
	}
	// Request IDs join the events to the answers.
	found := false
	for _, e := range events {
		if e["requestId"] == ok.Header.Get("X-Request-Id") && e["type"] == "tool.called" {
			found = true
		}
	}
	if !found {
		t.Errorf("no tool.called with the answer's X-Request-Id %s", ok.Header.Get("X-Request-Id"))
	}
}
