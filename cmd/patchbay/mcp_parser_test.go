package main

import (
	"net/http"
	"strings"
	"testing"
)

// Acceptance point 5: parser differentials. The gateway parses each message
// to check it, go-sdk parses it again to dispatch, and the tools parse their
// arguments: case variants and duplicates of member names (JSON-RPC members,
// tools/call params, tool arguments, action parameters), raw or escaped,
// must never let one parser see a blocked action or tool that another one
// did not check.

func TestMCPParserDifferential(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	ts.createConnector(connectorDef("beta-fake", "Beta Fake", p.URL))
	as := []string{"x-alloy-userid", "alice"}
	ts.storeCredential("acme-fake", "apiKey", "sk-acme", "", as...)
	ts.storeCredential("beta-fake", "apiKey", "sk-beta", "", as...)
	p.expect("sk-acme", "acme")
	p.expect("sk-beta", "beta")
	restrictions := map[string]any{
		"connectors": map[string]any{"blockedIds": []string{"beta-fake"}},
		"actions":    map[string]any{"blockedActions": []string{"items_delete"}},
	}
	limit := map[string]any{"requestsPerMinute": 100000}
	_, meta := ts.mcpServer(map[string]any{"name": "Parser", "restrictions": restrictions, "rateLimit": limit}, as...)
	_, direct := ts.mcpServer(map[string]any{"name": "Parser Direct", "mode": "direct", "restrictions": restrictions, "rateLimit": limit}, as...)

	// Each body's blocked part carries MARK; the platform must never see it.
	const (
		allowedExec = `"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_list","parameters":{"q":"ok"}}`
		blockedExec = `{"connectorId":"acme-fake","actionId":"items_delete","parameters":{"itemId":"MARK"}}`
		betaExec    = `{"connectorId":"beta-fake","actionId":"items_list","parameters":{"q":"MARK"}}`
	)
	type want int
	const (
		parseError    want = iota // 400 -32700
		invalidReq                // 400 -32600
		invalidParams             // 200 -32602
		toolError                 // 200 tool result with isError
		otherResult               // the answer to the exactly named method or params
	)
	tests := []struct {
		name   string
		url    string
		body   string
		want   want
		detail string // tool error code
	}{
		// tools/call params.
		{"ParamsNameCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","Name":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidParams, ""},
		{"ParamsNameCaseVariantFirst", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"execute_action_alloy","name":"list_connectors_alloy","arguments":{}}}`, invalidParams, ""},
		{"ParamsNameUpper", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidParams, ""},
		{"ParamsNameTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","name":"execute_action_alloy","arguments":` + blockedExec + `}}`, parseError, ""},
		{"ParamsNameEscapedTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","n\u0061me":"execute_action_alloy","arguments":` + blockedExec + `}}`, parseError, ""},
		{"ParamsArgumentsTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{` + allowedExec + `,"arguments":` + blockedExec + `}}`, parseError, ""},
		{"ParamsArgumentsCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{` + allowedExec + `,"Arguments":` + blockedExec + `}}`, invalidParams, ""},
		{"ParamsArgumentsTrailingSpace", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{` + allowedExec + `,"arguments ":` + blockedExec + `}}`, invalidParams, ""},
		{"ToolNameValueCase", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"Execute_Action_Alloy","arguments":` + blockedExec + `}}`, invalidParams, ""},
		{"ToolNameNUL", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy\u0000","arguments":` + blockedExec + `}}`, invalidParams, ""},
		// Tool arguments.
		{"ActionIDCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_list","ActionId":"items_delete","parameters":{"itemId":"MARK"}}}}`, toolError, "INVALID_REQUEST"},
		{"ActionIDCaseVariantFirst", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"ActionId":"items_delete","connectorId":"acme-fake","actionId":"items_get","parameters":{"itemId":"MARK"}}}}`, toolError, "INVALID_REQUEST"},
		{"ActionIDTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_get","actionId":"items_delete","parameters":{"itemId":"MARK"}}}}`, parseError, ""},
		{"ActionIDEscapedTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_get","\u0061ctionId":"items_delete","parameters":{"itemId":"MARK"}}}}`, parseError, ""},
		{"ConnectorIDCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","ConnectorId":"beta-fake","actionId":"items_list","parameters":{"q":"MARK"}}}}`, toolError, "INVALID_REQUEST"},
		{"ConnectorIDCaseVariantBlockedFirst", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"ConnectorId":"acme-fake","connectorId":"beta-fake","actionId":"items_list","parameters":{"q":"MARK"}}}}`, toolError, "INVALID_REQUEST"},
		{"ConnectorIDTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","connectorId":"beta-fake","actionId":"items_list","parameters":{"q":"MARK"}}}}`, parseError, ""},
		{"ConnectorIDValueCase", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"Beta-Fake","actionId":"items_list","parameters":{"q":"MARK"}}}}`, toolError, "CONNECTOR_NOT_FOUND"},
		{"ActionIDValueCase", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"Items_Delete","parameters":{"itemId":"MARK"}}}}`, toolError, "ACTION_NOT_FOUND"},
		{"ActionIDQualified", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"acme-fake.items_delete","parameters":{"itemId":"MARK"}}}}`, toolError, "ACTION_NOT_FOUND"},
		{"ActionIDTrailingSpace", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_delete ","parameters":{"itemId":"MARK"}}}}`, toolError, "ACTION_NOT_FOUND"},
		{"ParametersCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_get","parameters":{"itemId":"ok","ItemId":"MARK"}}}}`, toolError, "INVALID_REQUEST"},
		{"ParametersTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-fake","actionId":"items_get","parameters":{"itemId":"ok"},"parameters":{"itemId":"MARK"}}}}`, parseError, ""},
		{"CredentialsToolConnectorCase", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_credential_alloy","arguments":{"connectorId":"acme-fake","ConnectorId":"beta-fake","authenticationType":"apiKey"}}}`, toolError, "INVALID_REQUEST"},
		{"DetailsConnectorTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_connector_resources_alloy","arguments":{"connectorId":"acme-fake","connectorId":"beta-fake"}}}`, parseError, ""},
		// JSON-RPC members.
		{"MethodCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, otherResult, `"cacheScope":"private","tools":[`},
		{"MethodCaseVariantFirst", meta, `{"jsonrpc":"2.0","id":1,"Method":"tools/call","method":"ping","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, otherResult, `"result":{}}`},
		{"MethodUpperOnly", meta, `{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidReq, ""},
		{"ParamsCaseVariant", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{}},"Params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, otherResult, `"structuredContent":{"connectors":[{"id":"acme-fake"`},
		{"ParamsCaseVariantFirst", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"execute_action_alloy","arguments":` + blockedExec + `},"params":{"name":"list_connectors_alloy","arguments":{}}}`, otherResult, `"structuredContent":{"connectors":[{"id":"acme-fake"`},
		{"ParamsUpperOnly", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","PARAMS":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidParams, ""},
		{"ParamsTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{}},"params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, parseError, ""},
		{"MethodTwice", meta, `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, parseError, ""},
		{"IDCaseVariant", meta, `{"jsonrpc":"2.0","ID":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidReq, ""},
		{"JSONRPCCaseVariant", meta, `{"JSONRPC":"2.0","jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":` + betaExec + `}}`, otherResult, `connector_not_allowed`},
		// Direct mode: a blocked action has no tool, under any spelling.
		{"DirectBlockedTool", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_delete","arguments":{"itemId":"MARK"}}}`, invalidParams, ""},
		{"DirectBlockedConnector", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"beta-fake__items_list","arguments":{"q":"MARK"}}}`, invalidParams, ""},
		{"DirectNameCaseVariant", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_get","Name":"acme-fake__items_delete","arguments":{"itemId":"MARK"}}}`, invalidParams, ""},
		{"DirectNameTwice", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_get","name":"acme-fake__items_delete","arguments":{"itemId":"MARK"}}}`, parseError, ""},
		{"DirectToolValueCase", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ACME-FAKE__ITEMS_DELETE","arguments":{"itemId":"MARK"}}}`, invalidParams, ""},
		{"DirectArgumentCaseVariant", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_get","arguments":{"itemId":"ok","ItemId":"MARK"}}}`, toolError, "INVALID_REQUEST"},
		{"DirectArgumentTwice", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_get","arguments":{"itemId":"ok","itemId":"MARK"}}}`, parseError, ""},
		{"DirectCredentialIDCase", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme-fake__items_get","arguments":{"itemId":"MARK","CredentialId":"cred_00000000000000000000"}}}`, toolError, "INVALID_REQUEST"},
		{"DirectMetaToolHidden", direct, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":` + blockedExec + `}}`, invalidParams, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := "diff-" + strings.ToLower(tt.name)
			body := strings.ReplaceAll(tt.body, "MARK", marker)
			r := mcpPost(t, tt.url, body)
			code, _ := r.rpcErr()
			switch tt.want {
			case parseError:
				if r.Status != http.StatusBadRequest || code != -32700 {
					t.Errorf("got %d %s, want 400 -32700", r.Status, r.Body)
				}
			case invalidReq:
				if r.Status != http.StatusBadRequest || code != -32600 {
					t.Errorf("got %d %s, want 400 -32600", r.Status, r.Body)
				}
			case invalidParams:
				if r.Status != http.StatusOK || code != -32602 {
					t.Errorf("got %d %s, want -32602", r.Status, r.Body)
				}
			case toolError:
				if tr := r.tool(t); !tr.IsError || tr.code() != tt.detail {
					t.Errorf("got %s, want tool error %s", r.Body, tt.detail)
				}
			case otherResult:
				// Both parsers read the exact member names: the case
				// variant is an ignored unknown member.
				if r.Status != http.StatusOK || !strings.Contains(string(r.Body), tt.detail) {
					t.Errorf("got %d %s, want a result with %s", r.Status, r.Body, tt.detail)
				}
			}
			if p.sawMarker(marker) {
				t.Errorf("the blocked part reached the platform: %s", r.Body)
			}
		})
	}
}
