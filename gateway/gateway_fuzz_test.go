package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzMCPEndpoint posts arbitrary bodies through the real handler (front
// door, gateway, go-sdk, tools, connector runtime and a loopback platform
// fake) on each of the three routes. Whatever the body: never a 5xx, never
// text/plain, and always a JSON-RPC message, an error envelope or an empty
// 202 (§3.3, §6.2).
func FuzzMCPEndpoint(f *testing.F) {
	w := newWarmGateway(f, &warmOptions{cache: true})
	seeds := []string{
		``, `{}`, `[]`, `null`, `"x"`, `1`, `{"jsonrpc":`, "\xff", "\xef\xbb\xbf{}",
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":"a","method":"ping","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","params":null}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","method":"ping"}`,
		`{"jsonrpc":"2.0","id":null,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":9223372036854775807,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":-0,"method":"tools/list"}`,
		`{"jsonrpc":"1.0","id":1,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":7}}`,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":[]}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"!!"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{"query":"bench"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{"Query":"x"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_connector_resources_alloy","arguments":{"connectorId":"bench-fake"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_action_details_alloy","arguments":{"connectorId":"bench-fake","actionId":"items_get"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"bench-fake","actionId":"items_get","parameters":{"itemId":"1","fields":["a"]}}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"bench-fake","actionId":"items_create","parameters":{"title":"t"},"credentialId":"cred_00000000000000000000"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"bench-fake","actionId":"items_get","parameters":{"itemId":{"a":[[[[[]]]]]}}}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_credential_alloy","arguments":{"connectorId":"bench-fake","authenticationType":"apiKey","redirectUri":"https://x.example/cb"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_credentials_alloy","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_credential_metadata_alloy","arguments":{"connectorId":"bench-fake"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"discover_action_path_alloy","arguments":{"goal":"get an item","limit":20}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{"query":"` + strings.Repeat("\\u0000", 50) + `"}}}`,
		`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
	}
	for _, s := range seeds {
		for route := range 3 {
			f.Add([]byte(s), uint8(route))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, route uint8) {
		path, headers := w.tokenPath(), []string(nil)
		switch route % 3 {
		case 1:
			path, headers = "/mcp/"+w.serverID, []string{"Authorization", "Bearer " + w.adminKey, "x-alloy-userid", testUser}
		case 2:
			path, headers = "/mcp", []string{"Authorization", "Bearer " + w.adminKey, "x-alloy-userid", testUser, "x-mcp-server-id", w.serverID}
		}
		rec := w.post(path, string(body), headers...)
		if err := checkAnswer(rec.Code, rec.Header(), rec.Body.Bytes()); err != "" {
			t.Fatalf("body %q: %s: %d %s", body, err, rec.Code, rec.Body)
		}
	})
}

// checkAnswer applies the framing rules every /mcp answer obeys.
func checkAnswer(status int, h http.Header, body []byte) string {
	ct := h.Get("Content-Type")
	switch {
	case status >= 500:
		return "a 5xx"
	case strings.HasPrefix(ct, "text/plain"):
		return "text/plain"
	case status == http.StatusAccepted:
		if len(body) != 0 {
			return "a 202 with a body"
		}
		return ""
	}
	payload := body
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		const prefix = "event: message\ndata: "
		s := string(body)
		if status != http.StatusOK || !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, "\n\n") || strings.Count(s, "\n") != 3 {
			return "not exactly one SSE event"
		}
		payload = body[len(prefix) : len(body)-2]
	case ct != "application/json":
		return "Content-Type " + ct
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return "not a JSON object"
	}
	if v, ok := m["jsonrpc"]; ok {
		if string(v) != `"2.0"` {
			return "jsonrpc is not 2.0"
		}
		_, res := m["result"]
		_, rpcErr := m["error"]
		if res == rpcErr {
			return "neither result nor error"
		}
		if _, ok := m["id"]; !ok {
			return "no id"
		}
		return ""
	}
	var env struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(payload, &env) != nil || env.Error.Code == "" || env.Error.Message == "" || env.Error.Details["requestId"] == nil {
		return "neither JSON-RPC nor an envelope"
	}
	return ""
}
