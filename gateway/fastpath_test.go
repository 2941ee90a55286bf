package gateway_test

import (
	"strings"
	"testing"
)

// TestFastPathMatchesSDK pins ADR 8: a tools/call answered by the fast path
// is byte for byte what go-sdk's session machinery answers for the same
// request, for successes, tool errors and protocol errors.
func TestFastPathMatchesSDK(t *testing.T) {
	fast := newWarmGateway(t, &warmOptions{})
	slow := newWarmGateway(t, &warmOptions{sdkCalls: true})
	// Both gateways must name the same server and credential for the
	// bodies to match: give the slow one the fast one's identifiers.
	calls := []struct {
		name string
		body string
	}{
		{name: "ListConnectors", body: toolCall("list_connectors_alloy", map[string]any{})},
		{name: "ListConnectorsFiltered", body: toolCall("list_connectors_alloy", map[string]any{"query": "fake"})},
		{name: "Resources", body: toolCall("get_connector_resources_alloy", map[string]any{"connectorId": "bench-fake"})},
		{name: "Details", body: toolCall("get_action_details_alloy", map[string]any{"connectorId": "bench-fake", "actionId": "items_get"})},
		{name: "UnknownConnector", body: toolCall("get_action_details_alloy", map[string]any{"connectorId": "nope", "actionId": "x"})},
		{name: "BadArguments", body: toolCall("execute_action_alloy", map[string]any{"connectorId": "bench-fake"})},
		{name: "Discover", body: toolCall("discover_action_path_alloy", map[string]any{"goal": "get an item"})},
		{name: "Metadata", body: toolCall("get_credential_metadata_alloy", map[string]any{"connectorId": "bench-fake"})},
		{name: "UnknownTool", body: toolCall("no_such_tool_alloy", map[string]any{})},
		{name: "StringID", body: `{"jsonrpc":"2.0","id":"abc<&>","method":"tools/call","params":{"name":"list_connectors_alloy","arguments":{"query":"<b>&"}}}`},
		{name: "NoArguments", body: `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"list_connectors_alloy"}}`},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			a := fast.post(fast.tokenPath(), c.body, "X-Request-Id", "req-same")
			b := slow.post(slow.tokenPath(), c.body, "X-Request-Id", "req-same")
			if a.Code != b.Code || a.Header().Get("Content-Type") != b.Header().Get("Content-Type") {
				t.Fatalf("fast %d %s, sdk %d %s", a.Code, a.Header().Get("Content-Type"), b.Code, b.Header().Get("Content-Type"))
			}
			fa, fb := dataLine(a.Body.String()), dataLine(b.Body.String())
			if c.name == "UnknownTool" {
				// Only the code is normative for protocol errors (§3.3).
				if !strings.Contains(fa, `"code":-32602`) || !strings.Contains(fb, `"code":-32602`) {
					t.Fatalf("unknown tool:\nfast %s\nsdk  %s", fa, fb)
				}
				return
			}
			if fa != fb {
				t.Fatalf("bodies differ:\nfast %s\nsdk  %s", fa, fb)
			}
		})
	}
}

func dataLine(sse string) string {
	for _, l := range strings.Split(sse, "\n") {
		if strings.HasPrefix(l, "data: ") {
			return l
		}
	}
	return sse
}
