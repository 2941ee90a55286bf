package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Acceptance point 2: the restrictions matrix (§8). For every restriction
// row, every connector and action cell is checked on each enforcement point
// of §8.3 against an independent reading of §8.2: discovery, details,
// execution, credential tools and direct mode.

// restrictionOracle evaluates §8.2 on the restrictions object as sent.
func restrictionOracle(r map[string]any) (conn func(c string) bool, act func(c, a string) bool) {
	list := func(sub map[string]any, key string) ([]string, bool) {
		v, ok := sub[key]
		if !ok {
			return nil, false
		}
		return append([]string{}, v.([]string)...), true
	}
	permits := func(sub map[string]any, allowKey, blockKey, id string, match func(entry string) bool) bool {
		if sub == nil {
			return true
		}
		allowed, hasAllowed := list(sub, allowKey)
		blocked, hasBlocked := list(sub, blockKey)
		mode, _ := sub["mode"].(string)
		if mode == "" {
			if hasAllowed {
				mode = "allowlist"
			} else if hasBlocked {
				mode = "blocklist"
			}
		}
		entries, allow := blocked, false
		if mode == "allowlist" {
			entries, allow = allowed, true
		}
		for _, e := range entries {
			if match(e) {
				return allow
			}
		}
		return !allow
	}
	cs, _ := r["connectors"].(map[string]any)
	as, _ := r["actions"].(map[string]any)
	conn = func(c string) bool {
		return permits(cs, "allowedIds", "blockedIds", c, func(e string) bool { return e == c })
	}
	act = func(c, a string) bool {
		return conn(c) && permits(as, "allowedActions", "blockedActions", a, func(e string) bool {
			if ec, ea, ok := strings.Cut(e, "."); ok {
				return ec == c && ea == a
			}
			return e == a
		})
	}
	return conn, act
}

// matrixActions are the actions of each fake connector and parameters
// that carry a marker, so that the fake's log shows whether a call reached it.
var matrixActions = []string{"items_delete", "items_get", "items_list", "notes_create"}

func matrixParams(action, marker string) map[string]any {
	switch action {
	case "items_list":
		return map[string]any{"q": marker}
	case "notes_create":
		return map[string]any{"text": marker}
	}
	return map[string]any{"itemId": marker}
}

// sawMarker reports whether any request with marker reached the fake.
func (p *platform) sawMarker(marker string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.calls {
		if strings.Contains(c.Path, marker) || strings.Contains(c.Query, marker) || strings.Contains(c.Body, marker) {
			return true
		}
	}
	return false
}

func TestMCPRestrictionsMatrix(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	// Both connectors share their action IDs, so bare and qualified entries
	// differ; "zorblax" makes discovery match every action of both.
	ts.createConnector(connectorDef("acme-fake", "Acme Fake Zorblax", p.URL))
	ts.createConnector(connectorDef("beta-fake", "Beta Fake Zorblax", p.URL))
	as := []string{"x-alloy-userid", "alice"}
	ts.storeCredential("acme-fake", "apiKey", "sk-alice-acme", "", as...)
	ts.storeCredential("beta-fake", "apiKey", "sk-alice-beta", "", as...)
	p.expect("sk-alice-acme", "alice-acme")
	p.expect("sk-alice-beta", "alice-beta")
	connectors := []string{"acme-fake", "beta-fake", "slack"} // slack: a built-in, for connector-level checks

	rows := []struct {
		name string
		r    map[string]any
	}{
		{name: "None", r: map[string]any{}},
		{name: "ConnectorAllowlist", r: map[string]any{"connectors": map[string]any{"mode": "allowlist", "allowedIds": []string{"acme-fake"}}}},
		{name: "ConnectorAllowlistInferred", r: map[string]any{"connectors": map[string]any{"allowedIds": []string{"beta-fake", "slack"}}}},
		{name: "ConnectorAllowlistEmpty", r: map[string]any{"connectors": map[string]any{"mode": "allowlist"}}},
		{name: "ConnectorBlocklist", r: map[string]any{"connectors": map[string]any{"mode": "blocklist", "blockedIds": []string{"acme-fake"}}}},
		{name: "ConnectorBlocklistIgnoresAllowedIds", r: map[string]any{"connectors": map[string]any{"mode": "blocklist",
			"allowedIds": []string{"acme-fake"}, "blockedIds": []string{"beta-fake"}}}},
		{name: "ActionAllowlistBare", r: map[string]any{"actions": map[string]any{"mode": "allowlist", "allowedActions": []string{"items_list"}}}},
		{name: "ActionAllowlistQualified", r: map[string]any{"actions": map[string]any{"allowedActions": []string{"acme-fake.items_list", "beta-fake.notes_create"}}}},
		{name: "ActionAllowlistCaseVariant", r: map[string]any{"actions": map[string]any{"allowedActions": []string{"Items_List", "acme-fake.Items_Get"}}}},
		{name: "ActionAllowlistEmpty", r: map[string]any{"actions": map[string]any{"mode": "allowlist", "allowedActions": []string{}}}},
		{name: "ActionBlocklistBare", r: map[string]any{"actions": map[string]any{"mode": "blocklist", "blockedActions": []string{"items_delete"}}}},
		{name: "ActionBlocklistQualified", r: map[string]any{"actions": map[string]any{"blockedActions": []string{"beta-fake.items_delete", "acme-fake.notes_create"}}}},
		{name: "ActionBlocklistOtherConnector", r: map[string]any{"actions": map[string]any{"blockedActions": []string{"slack.items_get"}}}},
		{name: "Combined", r: map[string]any{
			"connectors": map[string]any{"mode": "allowlist", "allowedIds": []string{"acme-fake", "beta-fake"}},
			"actions":    map[string]any{"mode": "blocklist", "blockedActions": []string{"acme-fake.notes_create", "items_delete"}}}},
		{name: "CombinedAllowlists", r: map[string]any{
			"connectors": map[string]any{"mode": "blocklist", "blockedIds": []string{"beta-fake"}},
			"actions":    map[string]any{"mode": "allowlist", "allowedActions": []string{"items_get", "beta-fake.items_list"}}}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			connOK, actOK := restrictionOracle(row.r)
			body := map[string]any{"name": "Matrix " + row.name, "restrictions": row.r, "rateLimit": map[string]any{"requestsPerMinute": 100000}}
			_, url := ts.mcpServer(body, as...)
			body["name"], body["mode"] = "Direct "+row.name, "direct"
			_, directURL := ts.mcpServer(body, as...)

			// list_connectors_alloy: exactly the permitted connectors.
			listed := callTool(t, url, "list_connectors_alloy", map[string]any{}).wantOK(t)
			got := map[string]bool{}
			for _, x := range listed.Structured["connectors"].([]any) {
				got[x.(map[string]any)["id"].(string)] = true
			}
			for _, c := range connectors {
				if got[c] != connOK(c) {
					t.Errorf("list_connectors_alloy lists %s: %v, want %v", c, got[c], connOK(c))
				}
			}

			// discover_action_path_alloy: exactly the permitted actions.
			disc := callTool(t, url, "discover_action_path_alloy", map[string]any{"goal": "zorblax", "limit": 20}).wantOK(t)
			found := map[string]bool{}
			for _, x := range disc.Structured["matches"].([]any) {
				m := x.(map[string]any)
				found[m["connectorId"].(string)+"."+m["actionId"].(string)] = true
			}
			for _, c := range connectors[:2] {
				for _, a := range matrixActions {
					if found[c+"."+a] != actOK(c, a) {
						t.Errorf("discover_action_path_alloy finds %s.%s: %v, want %v", c, a, found[c+"."+a], actOK(c, a))
					}
				}
			}

			for _, c := range connectors {
				// get_connector_resources_alloy: connector FORBIDDEN, actions filtered.
				res := callTool(t, url, "get_connector_resources_alloy", map[string]any{"connectorId": c})
				if !connOK(c) {
					res.wantErr(t, "FORBIDDEN", "connector_not_allowed")
					if res.Structured["error"].(map[string]any)["message"] != "Connector not allowed" {
						t.Errorf("message: %s", res.Raw.Body)
					}
				} else if c != "slack" {
					res.wantOK(t)
					var acts []string
					for _, r := range res.Structured["resources"].([]any) {
						ra := r.(map[string]any)["actions"].([]any)
						if len(ra) == 0 {
							t.Errorf("a resource without actions is listed: %s", res.Raw.Body)
						}
						for _, a := range ra {
							acts = append(acts, a.(map[string]any)["id"].(string))
						}
					}
					sort.Strings(acts)
					var want []string
					for _, a := range matrixActions {
						if actOK(c, a) {
							want = append(want, a)
						}
					}
					if !slices.Equal(acts, want) || res.Structured["actionCount"] != float64(len(want)) {
						t.Errorf("%s resources list %v (count %v), want %v", c, acts, res.Structured["actionCount"], want)
					}
				}

				// Credential tools check the connector.
				for _, tc := range []struct {
					tool string
					args map[string]any
				}{
					{"create_credential_alloy", map[string]any{"connectorId": c, "authenticationType": "apiKey"}},
					{"get_credential_metadata_alloy", map[string]any{"connectorId": c}},
					{"get_credentials_alloy", map[string]any{"connectorId": c}},
				} {
					res := callTool(t, url, tc.tool, tc.args)
					if connOK(c) {
						if c != "slack" || tc.tool != "create_credential_alloy" {
							res.wantOK(t)
						}
					} else {
						res.wantErr(t, "FORBIDDEN", "connector_not_allowed")
					}
				}
				if c == "slack" {
					continue
				}

				for _, a := range matrixActions {
					marker := fmt.Sprintf("m-%s-%s-%s", strings.ToLower(row.name), c, a)
					// get_action_details_alloy and execute_action_alloy.
					det := callTool(t, url, "get_action_details_alloy", map[string]any{"connectorId": c, "actionId": a})
					ex := callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": c, "actionId": a, "parameters": matrixParams(a, marker)})
					switch {
					case !connOK(c):
						det.wantErr(t, "FORBIDDEN", "connector_not_allowed")
						ex.wantErr(t, "FORBIDDEN", "connector_not_allowed")
					case !actOK(c, a):
						det.wantErr(t, "FORBIDDEN", "action_not_allowed")
						ex.wantErr(t, "FORBIDDEN", "action_not_allowed")
						if ex.Structured["error"].(map[string]any)["message"] != "Action not allowed" || ex.detail("connectorId") != c || ex.detail("actionId") != a {
							t.Errorf("execute %s.%s: %s", c, a, ex.Raw.Body)
						}
					default:
						det.wantOK(t)
						ex.wantOK(t)
						if !p.sawMarker(marker) {
							t.Errorf("execute %s.%s succeeded without reaching the fake", c, a)
						}
					}
					if !actOK(c, a) && p.sawMarker(marker) {
						t.Errorf("a refused execute %s.%s reached the fake", c, a)
					}
					// Direct mode: a refused action's tool does not exist.
					dr := mcpPost(t, directURL, rpcBody("tools/call", map[string]any{"name": c + "__" + a, "arguments": matrixParams(a, marker+"-d")}))
					if actOK(c, a) {
						dr.tool(t).wantOK(t)
					} else {
						dr.wantRPCError(t, -32602)
						if p.sawMarker(marker + "-d") {
							t.Errorf("a refused direct call %s.%s reached the fake", c, a)
						}
					}
					// A case variant of the action ID never resolves (§8.2).
					variant := strings.ToUpper(a[:1]) + a[1:]
					if connOK(c) {
						callTool(t, url, "execute_action_alloy", map[string]any{"connectorId": c, "actionId": variant,
							"parameters": matrixParams(a, marker+"-v")}).wantErr(t, "ACTION_NOT_FOUND")
						callTool(t, url, "get_action_details_alloy", map[string]any{"connectorId": c, "actionId": variant}).wantErr(t, "ACTION_NOT_FOUND")
					}
				}
			}

			// get_credentials_alloy without connectorId: filtered.
			creds := callTool(t, url, "get_credentials_alloy", map[string]any{}).wantOK(t)
			var credConns []string
			for _, x := range creds.Structured["credentials"].([]any) {
				credConns = append(credConns, x.(map[string]any)["connectorId"].(string))
			}
			sort.Strings(credConns)
			var wantConns []string
			for _, c := range connectors[:2] {
				if connOK(c) {
					wantConns = append(wantConns, c)
				}
			}
			if !slices.Equal(credConns, wantConns) {
				t.Errorf("get_credentials_alloy lists %v, want %v", credConns, wantConns)
			}

			// Direct mode lists exactly the permitted actions plus the three
			// credential tools, in byte order.
			want := []string{"create_credential_alloy", "get_credential_metadata_alloy", "get_credentials_alloy"}
			for _, c := range connectors[:2] {
				for _, a := range matrixActions {
					if actOK(c, a) {
						want = append(want, c+"__"+a)
					}
				}
			}
			sort.Strings(want)
			names := toolNames(t, directURL)
			var mine []string
			for _, n := range names {
				if !strings.Contains(n, "__") || strings.HasPrefix(n, "acme-fake__") || strings.HasPrefix(n, "beta-fake__") {
					mine = append(mine, n)
				}
			}
			if !slices.Equal(mine, want) {
				t.Errorf("direct tools %v, want %v", mine, want)
			}
			if !sort.StringsAreSorted(names) {
				t.Errorf("direct tools not sorted: %v", names)
			}
			for _, n := range names {
				if strings.HasPrefix(n, "slack__") != connOK("slack") && strings.HasPrefix(n, "slack__") {
					t.Errorf("direct mode lists %s although slack is not permitted", n)
				}
			}
			// The five other meta tools do not exist in direct mode.
			mcpPost(t, directURL, rpcBody("tools/call", map[string]any{"name": "execute_action_alloy",
				"arguments": map[string]any{"connectorId": "acme-fake", "actionId": "items_list", "parameters": map[string]any{}}})).wantRPCError(t, -32602)
		})
	}
}

// A changed restriction applies to the next request, in direct mode too:
// a tool listed before the change is refused after it.
func TestMCPRestrictionsChangeApplies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	as := []string{"x-alloy-userid", "alice"}
	ts.storeCredential("acme-fake", "apiKey", "sk-alice", "", as...)
	p.expect("sk-alice", "alice")
	for _, mode := range []string{"direct", "connectivity"} {
		t.Run(mode, func(t *testing.T) {
			id, url := ts.mcpServer(map[string]any{"name": "Change " + mode, "mode": mode}, as...)
			call := func() *mcpResp {
				if mode == "direct" {
					return mcpPost(t, url, rpcBody("tools/call", map[string]any{"name": "acme-fake__items_delete", "arguments": map[string]any{"itemId": "x"}}))
				}
				return mcpPost(t, url, rpcBody("tools/call", map[string]any{"name": "execute_action_alloy",
					"arguments": map[string]any{"connectorId": "acme-fake", "actionId": "items_delete", "parameters": map[string]any{"itemId": "x"}}}))
			}
			call().tool(t).wantOK(t)
			ts.call("PUT", "/api/servers/"+id, map[string]any{"restrictions": map[string]any{"actions": map[string]any{"blockedActions": []string{"items_delete"}}}},
				as...).want(t, http.StatusOK)
			if mode == "direct" {
				call().wantRPCError(t, -32602)
				if slices.Contains(toolNames(t, url), "acme-fake__items_delete") {
					t.Fatal("a blocked action is still listed")
				}
			} else {
				call().tool(t).wantErr(t, "FORBIDDEN", "action_not_allowed")
			}
		})
	}
}

// The users restriction is an HTTP 403 envelope with reason
// user_not_allowed, for every route and for the owner too (§6.5, §8.3).
func TestMCPRestrictionsUsers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	bobKey := ts.userKey("bob")
	rows := []struct {
		name    string
		users   map[string]any
		allowed map[string]bool
	}{
		{name: "Allowlist", users: map[string]any{"mode": "allowlist", "allowedIds": []string{"alice", "carol"}}, allowed: map[string]bool{"alice": true, "carol": true}},
		{name: "AllowlistEmpty", users: map[string]any{"mode": "allowlist"}, allowed: map[string]bool{}},
		{name: "Blocklist", users: map[string]any{"blockedIds": []string{"alice", "bob"}}, allowed: map[string]bool{"carol": true, "dave": true}},
		{name: "BlocklistCaseSensitive", users: map[string]any{"blockedIds": []string{"Alice", "BOB"}}, allowed: map[string]bool{"alice": true, "bob": true, "carol": true, "dave": true}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			id, tokenURL := ts.mcpServer(map[string]any{"name": "Users " + row.name, "isPublic": true,
				"restrictions": map[string]any{"users": row.users}}, "x-alloy-userid", "alice")
			_, privateURL := ts.mcpServer(map[string]any{"name": "Private " + row.name,
				"restrictions": map[string]any{"users": row.users}}, "x-alloy-userid", "alice")
			ping := rpcBody("ping", nil)
			cases := []struct {
				name    string
				user    string
				url     string
				headers []string
			}{
				{"OwnerTokenURL", "alice", privateURL, nil},
				{"JWTOnPublicTokenURL", "carol", tokenURL, []string{"x-alloy-user-token", ts.mint("carol", nil)}},
				{"JWTOnPrivateTokenURL", "bob", privateURL, []string{"x-alloy-user-token", ts.mint("bob", nil)}},
				{"AdminKeyAsUser", "dave", ts.URL + "/mcp/" + id, []string{"Authorization", "Bearer " + ts.AdminKey, "x-alloy-userid", "dave"}},
				{"AdminKeyAsOwner", "alice", ts.URL + "/mcp/" + id, []string{"Authorization", "Bearer " + ts.AdminKey, "x-alloy-userid", "alice"}},
				{"UserKeyOnPublic", "bob", ts.URL + "/mcp/" + id, []string{"Authorization", "Bearer " + bobKey}},
				{"JWTOnly", "carol", ts.URL + "/mcp", []string{"Authorization", "Bearer " + ts.mint("carol", nil), "x-mcp-server-id", id}},
			}
			for _, tc := range cases {
				r := mcpPost(t, tc.url, ping, tc.headers...)
				if row.allowed[tc.user] {
					if r.Status != http.StatusOK || r.result() == nil {
						t.Errorf("%s: %d %s, want a ping result", tc.name, r.Status, r.Body)
					}
					continue
				}
				if r.Status != http.StatusForbidden || r.envCode() != "FORBIDDEN" || r.envDetail("reason") != "user_not_allowed" {
					t.Errorf("%s: %d %s, want 403 user_not_allowed", tc.name, r.Status, r.Body)
				}
				// The limiter ran before the users check (§9).
				if r.Header.Get("X-RateLimit-Limit") == "" {
					t.Errorf("%s: no X-RateLimit-Limit on the 403", tc.name)
				}
				// tools/call is refused the same way, before any tool runs.
				r = mcpPost(t, tc.url, rpcBody("tools/call", map[string]any{"name": "list_connectors_alloy", "arguments": map[string]any{}}), tc.headers...)
				if r.Status != http.StatusForbidden || r.envDetail("reason") != "user_not_allowed" {
					t.Errorf("%s tools/call: %d %s", tc.name, r.Status, r.Body)
				}
			}
		})
	}
}
