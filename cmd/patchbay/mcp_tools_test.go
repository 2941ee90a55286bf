package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Tool-level rules of §7 that every tool shares: argument validation with
// details.errors, the 10000-item array bound (§17.4), and the details
// every execute_action_alloy failure carries (§7.4).

func TestMCPToolArguments(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	ts.storeCredential("acme-fake", "apiKey", "sk-admin", "")
	p.expect("sk-admin", "admin")
	_, url := ts.mcpServer(map[string]any{"name": "Args", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	long := make([]int, 10001)
	ok := make([]int, 10000)
	tests := []struct {
		name string
		tool string
		args string
		path string // the details.errors path that must be reported
	}{
		{"UnknownArgument", "list_connectors_alloy", `{"query":"a","limit":3}`, "/limit"},
		{"CaseVariantArgument", "list_connectors_alloy", `{"Query":"a"}`, "/Query"},
		{"WrongType", "list_connectors_alloy", `{"query":5}`, "/query"},
		{"EmptyString", "list_connectors_alloy", `{"category":""}`, "/category"},
		{"TooLong", "get_connector_resources_alloy", `{"connectorId":"` + strings.Repeat("a", 49) + `"}`, "/connectorId"},
		{"Missing", "get_action_details_alloy", `{"connectorId":"acme-fake"}`, "/actionId"},
		{"MissingParameters", "execute_action_alloy", `{"connectorId":"acme-fake","actionId":"items_list"}`, "/parameters"},
		{"ParametersNotObject", "execute_action_alloy", `{"connectorId":"acme-fake","actionId":"items_list","parameters":[]}`, "/parameters"},
		{"BadCredentialID", "execute_action_alloy", `{"connectorId":"acme-fake","actionId":"items_list","parameters":{},"credentialId":"cred_x"}`, "/credentialId"},
		{"BadEnum", "create_credential_alloy", `{"connectorId":"acme-fake","authenticationType":"password"}`, "/authenticationType"},
		{"FieldsNotStrings", "create_credential_alloy", `{"connectorId":"acme-fake","authenticationType":"apiKey","fields":{"apiKey":1}}`, "/fields"},
		{"RelativeRedirect", "create_credential_alloy", `{"connectorId":"acme-fake","authenticationType":"apiKey","redirectUri":"/cb"}`, "/redirectUri"},
		{"LimitOutOfRange", "discover_action_path_alloy", `{"goal":"x","limit":21}`, "/limit"},
		{"LimitNotInteger", "discover_action_path_alloy", `{"goal":"x","limit":1.5}`, "/limit"},
		{"ArgumentsNotObject", "list_connectors_alloy", `[]`, ""},
		{"LongArrayInArguments", "list_connectors_alloy", fmt.Sprintf(`{"junk":%s}`, mustJSON(long)), ""},
		{"LongArrayInParameters", "execute_action_alloy", fmt.Sprintf(`{"connectorId":"acme-fake","actionId":"items_list","parameters":{"q":%s}}`, mustJSON(long)), ""},
		{"ArrayAtBoundIsNotTheProblem", "list_connectors_alloy", fmt.Sprintf(`{"junk":%s}`, mustJSON(ok)), "/junk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tt.tool + `","arguments":` + tt.args + `}}`
			r := mcpPost(t, url, body)
			if tt.name == "ArgumentsNotObject" {
				r.wantRPCError(t, -32602)
				return
			}
			tr := r.tool(t).wantErr(t, "INVALID_REQUEST")
			if tr.detail("requestId") == nil {
				t.Errorf("no requestId: %s", r.Body)
			}
			if tt.path == "" {
				return
			}
			errs, _ := tr.detail("errors").([]any)
			found := false
			for _, e := range errs {
				m, _ := e.(map[string]any)
				if m["path"] == tt.path && m["message"] != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("details.errors %v lacks path %s", errs, tt.path)
			}
		})
	}
	if p.callCount() != 0 {
		t.Errorf("an invalid call reached the platform")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Every execute_action_alloy failure names the connector, the action and
// the request (§7.4); upstream failures carry the status and a shaped body
// without the credential's secret.
func TestMCPExecuteFailures(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	_, url := ts.mcpServer(map[string]any{"name": "Failures", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	exec := func(conn, action string, params map[string]any, extra ...string) *toolResult {
		args := map[string]any{"connectorId": conn, "actionId": action, "parameters": params}
		if len(extra) == 2 {
			args[extra[0]] = extra[1]
		}
		tr := callTool(t, url, "execute_action_alloy", args)
		if tr.IsError && (tr.detail("connectorId") != conn || tr.detail("actionId") != action || tr.detail("requestId") == nil) {
			t.Errorf("failure details lack connectorId/actionId/requestId: %s", tr.Raw.Body)
		}
		return tr
	}
	exec("nope", "items_list", map[string]any{}).wantErr(t, "CONNECTOR_NOT_FOUND")
	exec("acme-fake", "nope", map[string]any{}).wantErr(t, "ACTION_NOT_FOUND")
	exec("acme-fake", "items_get", map[string]any{}).wantErr(t, "INVALID_REQUEST")
	exec("acme-fake", "items_get", map[string]any{"itemId": "1", "extra": 1}).wantErr(t, "INVALID_REQUEST")
	tr := exec("acme-fake", "items_list", map[string]any{}).wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	if h, _ := tr.detail("hint").(string); !strings.Contains(h, "create_credential_alloy") {
		t.Errorf("no hint: %s", tr.Raw.Body)
	}
	exec("acme-fake", "items_list", map[string]any{}, "credentialId", "cred_AAAAAAAAAAAAAAAAAAAA").wantErr(t, "CREDENTIAL_NOT_FOUND", "missing")
	// The platform refuses the key and quotes it back: status, shaped body,
	// the secret redacted.
	ts.storeCredential("acme-fake", "apiKey", "sk-unknown-to-the-platform", "")
	tr = exec("acme-fake", "items_list", map[string]any{}).wantErr(t, "UPSTREAM_ERROR")
	if tr.detail("status") != float64(401) || tr.Structured["error"].(map[string]any)["message"] != "Upstream returned HTTP 401" {
		t.Errorf("upstream failure: %s", tr.Raw.Body)
	}
	if strings.Contains(string(tr.Raw.Body), "sk-unknown-to-the-platform") || !strings.Contains(fmt.Sprint(tr.detail("body")), "[REDACTED]") {
		t.Errorf("the secret is not redacted: %s", tr.Raw.Body)
	}
	if p.callCount() != 1 {
		t.Errorf("%d platform calls, want 1", p.callCount())
	}
}
