package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Acceptance point 7: the transport table of §3.3 and §6.2, the methods
// of §6.3, the tool list of §6.7, and the headers of the SSE response.
// Every answer passes through mcpPost/mcpDo, which fail on a text/plain
// Content-Type or a body that is neither JSON-RPC nor an envelope.

// transportBody is the exact transport-layer body of §3.3.
func transportBody(code int, msg string) string {
	b, _ := json.Marshal(msg)
	return `{"jsonrpc":"2.0","error":{"code":` + itoa(code) + `,"message":` + string(b) + `},"id":null}`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

const (
	msgHost      = "Forbidden: invalid Host header"
	msgOrigin    = "Forbidden: Origin not allowed"
	msgMethod    = "Method not allowed."
	msgMedia     = "Unsupported Media Type: Content-Type must be application/json"
	msgAccept    = "Not Acceptable: Client must accept both application/json and text/event-stream"
	msgTooLarge  = "Payload Too Large"
	msgParse     = "Parse error"
	msgInvalid   = "Invalid Request"
	msgBatch     = "Invalid Request: batching is not supported"
	msgVersion   = "Bad Request: Unsupported protocol version"
	ping         = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	initializeV  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"VERSION","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	transportCT  = "application/json"
	maxBodyBytes = 4096
)

// wantTransport fails unless r is the transport-layer answer.
func (r *mcpResp) wantTransport(t *testing.T, status, code int, msg string) {
	t.Helper()
	if r.Status != status || strings.TrimSpace(string(r.Body)) != transportBody(code, msg) || r.Header.Get("Content-Type") != transportCT {
		t.Errorf("got %d %q %s, want %d %s", r.Status, r.Header.Get("Content-Type"), r.Body, status, transportBody(code, msg))
	}
}

func TestMCPTransportTable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = maxBodyBytes })
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Transport", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	admin := []string{"Authorization", "Bearer " + ts.AdminKey}
	routes := []struct {
		name    string
		url     string
		headers []string
	}{
		{"TokenURL", tokenURL, nil},
		{"ServerID", ts.URL + "/mcp/" + id, admin},
		{"Header", ts.URL + "/mcp", append([]string{"x-mcp-server-id", id}, admin...)},
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", maxBodyBytes) + `"}}`
	tests := []struct {
		name    string
		method  string
		body    string
		headers []string
		status  int
		code    int
		msg     string
	}{
		// Step 0: Host and Origin.
		{name: "HostNotAllowed", body: ping, headers: []string{"Host", "evil.example"}, status: 403, code: -32000, msg: msgHost},
		{name: "HostWithPortNotAllowed", body: ping, headers: []string{"Host", "evil.example:80"}, status: 403, code: -32000, msg: msgHost},
		{name: "OriginNotAllowed", body: ping, headers: []string{"Origin", "https://evil.example"}, status: 403, code: -32000, msg: msgOrigin},
		{name: "OriginNullNotAllowed", body: ping, headers: []string{"Origin", "null"}, status: 403, code: -32000, msg: msgOrigin},
		{name: "HostBeforeMethod", method: "GET", headers: []string{"Host", "evil.example"}, status: 403, code: -32000, msg: msgHost},
		// Step 1: method.
		{name: "GET", method: "GET", status: 405, code: -32000, msg: msgMethod},
		{name: "DELETE", method: "DELETE", status: 405, code: -32000, msg: msgMethod},
		{name: "PUT", method: "PUT", body: ping, status: 405, code: -32000, msg: msgMethod},
		{name: "PATCH", method: "PATCH", body: ping, status: 405, code: -32000, msg: msgMethod},
		{name: "OPTIONSWithoutPreflight", method: "OPTIONS", status: 405, code: -32000, msg: msgMethod},
		{name: "MethodBeforeMediaType", method: "GET", headers: []string{"Content-Type", "text/plain"}, status: 405, code: -32000, msg: msgMethod},
		// Step 2: Content-Type.
		{name: "ContentTypeText", body: ping, headers: []string{"Content-Type", "text/plain"}, status: 415, code: -32000, msg: msgMedia},
		{name: "ContentTypeMissing", body: ping, headers: []string{"Content-Type", ""}, status: 415, code: -32000, msg: msgMedia},
		{name: "ContentTypeJSONSuffix", body: ping, headers: []string{"Content-Type", "application/json-rpc"}, status: 415, code: -32000, msg: msgMedia},
		{name: "ContentTypeInvalid", body: ping, headers: []string{"Content-Type", "application/json; ="}, status: 415, code: -32000, msg: msgMedia},
		{name: "MediaTypeBeforeAccept", body: ping, headers: []string{"Content-Type", "text/plain", "Accept", "text/html"}, status: 415, code: -32000, msg: msgMedia},
		{name: "ContentTypeCharset", body: ping, headers: []string{"Content-Type", "application/json; charset=utf-8"}, status: 200},
		{name: "ContentTypeUpperCase", body: ping, headers: []string{"Content-Type", "Application/JSON"}, status: 200},
		// Step 3: Accept.
		{name: "AcceptMissing", body: ping, headers: []string{"Accept", ""}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptJSONOnly", body: ping, headers: []string{"Accept", "application/json"}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptSSEOnly", body: ping, headers: []string{"Accept", "text/event-stream"}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptTextWildcardOnly", body: ping, headers: []string{"Accept", "text/*"}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptOtherTypes", body: ping, headers: []string{"Accept", "application/xml, text/html"}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptPrefixIsNotAMatch", body: ping, headers: []string{"Accept", "application/jsonx, text/event-streamx"}, status: 406, code: -32000, msg: msgAccept},
		{name: "AcceptAny", body: ping, headers: []string{"Accept", "*/*"}, status: 200},
		{name: "AcceptWildcards", body: ping, headers: []string{"Accept", "application/*, text/*"}, status: 200},
		{name: "AcceptQValues", body: ping, headers: []string{"Accept", "application/json;q=0.9, text/event-stream;q=0.1"}, status: 200},
		{name: "AcceptQZeroIgnored", body: ping, headers: []string{"Accept", "application/json;q=0, text/event-stream"}, status: 200},
		{name: "AcceptUpperCase", body: ping, headers: []string{"Accept", "APPLICATION/JSON, TEXT/EVENT-STREAM"}, status: 200},
		{name: "AcceptSpaces", body: ping, headers: []string{"Accept", " application/json ;q=1 ,\ttext/event-stream "}, status: 200},
		// Step 4: size (the streamed case is below).
		{name: "ContentLengthTooLarge", body: big, status: 413, code: -32000, msg: msgTooLarge},
		// Step 6: parse errors.
		{name: "InvalidJSON", body: `{"jsonrpc":`, status: 400, code: -32700, msg: msgParse},
		{name: "EmptyBody", body: ``, status: 400, code: -32700, msg: msgParse},
		{name: "TrailingData", body: ping + ` {}`, status: 400, code: -32700, msg: msgParse},
		{name: "InvalidUTF8", body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}", status: 400, code: -32700, msg: msgParse},
		{name: "InvalidUTF8InKey", body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"\xc3\x28\":1}", status: 400, code: -32700, msg: msgParse},
		{name: "DuplicateTopLevel", body: `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, status: 400, code: -32700, msg: msgParse},
		{name: "DuplicateMethod", body: `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}`, status: 400, code: -32700, msg: msgParse},
		{name: "DuplicateNested", body: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":{"b":1,"b":2}}}`, status: 400, code: -32700, msg: msgParse},
		{name: "DuplicateEscaped", body: `{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"x"}`, status: 400, code: -32700, msg: msgParse},
		// Step 6: invalid messages.
		{name: "Batch", body: `[` + ping + `]`, status: 400, code: -32600, msg: msgBatch},
		{name: "EmptyBatch", body: `[]`, status: 400, code: -32600, msg: msgBatch},
		{name: "NotAnObject", body: `"ping"`, status: 400, code: -32600, msg: msgInvalid},
		{name: "Null", body: `null`, status: 400, code: -32600, msg: msgInvalid},
		{name: "WrongJSONRPC", body: `{"jsonrpc":"1.0","id":1,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "JSONRPCNumber", body: `{"jsonrpc":2.0,"id":1,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "MissingJSONRPC", body: `{"id":1,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "MissingMethod", body: `{"jsonrpc":"2.0","id":1}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "MethodNotString", body: `{"jsonrpc":"2.0","id":1,"method":7}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "IDNull", body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "IDFloat", body: `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "IDObject", body: `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "IDArray", body: `{"jsonrpc":"2.0","id":[1],"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "IDBool", body: `{"jsonrpc":"2.0","id":true,"method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "ResultPresent", body: `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "ResultOnly", body: `{"jsonrpc":"2.0","id":1,"result":{}}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "ErrorPresent", body: `{"jsonrpc":"2.0","id":1,"method":"ping","error":{"code":1,"message":"x"}}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "PingWithoutID", body: `{"jsonrpc":"2.0","method":"ping"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "InitializeWithoutID", body: `{"jsonrpc":"2.0","method":"initialize","params":{}}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "ToolsListWithoutID", body: `{"jsonrpc":"2.0","method":"tools/list"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "ToolsCallWithoutID", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "NotificationWithID", body: `{"jsonrpc":"2.0","id":1,"method":"notifications/initialized"}`, status: 400, code: -32600, msg: msgInvalid},
		{name: "CancelledWithID", body: `{"jsonrpc":"2.0","id":"a","method":"notifications/cancelled","params":{"requestId":1}}`, status: 400, code: -32600, msg: msgInvalid},
		// Step 7: MCP-Protocol-Version.
		{name: "UnsupportedVersion", body: ping, headers: []string{"MCP-Protocol-Version", "2099-01-01"}, status: 400, code: -32000, msg: msgVersion},
		{name: "GarbageVersion", body: ping, headers: []string{"MCP-Protocol-Version", "latest"}, status: 400, code: -32000, msg: msgVersion},
		{name: "UnsupportedVersionOnNotification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			headers: []string{"MCP-Protocol-Version", "2099-01-01"}, status: 400, code: -32000, msg: msgVersion},
		{name: "UnsupportedVersionOnInitialize", body: strings.Replace(initializeV, "VERSION", "2025-06-18", 1),
			headers: []string{"MCP-Protocol-Version", "2099-01-01"}, status: 200},
		{name: "SupportedVersion2024", body: ping, headers: []string{"MCP-Protocol-Version", "2024-11-05"}, status: 200},
		{name: "SupportedVersion2025", body: ping, headers: []string{"MCP-Protocol-Version", "2025-11-25"}, status: 200},
		// Step 8: notifications.
		{name: "Initialized", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, status: 202},
		{name: "Cancelled", body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, status: 202},
		{name: "UnknownNotification", body: `{"jsonrpc":"2.0","method":"custom/thing"}`, status: 202},
		{name: "SessionIDIgnored", body: ping, headers: []string{"Mcp-Session-Id", "abc"}, status: 200},
	}
	for _, rt := range routes {
		for _, tt := range tests {
			t.Run(rt.name+"/"+tt.name, func(t *testing.T) {
				method := tt.method
				if method == "" {
					method = http.MethodPost
				}
				var body io.Reader
				if tt.body != "" || method == http.MethodPost {
					body = strings.NewReader(tt.body)
				}
				req, err := http.NewRequest(method, rt.url, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", mcpAccept)
				r := mcpDo(t, req, append(slices.Clone(rt.headers), tt.headers...)...)
				switch {
				case tt.code != 0:
					r.wantTransport(t, tt.status, tt.code, tt.msg)
					if tt.status == 405 && r.Header.Get("Allow") != "POST" {
						t.Errorf("Allow %q", r.Header.Get("Allow"))
					}
				case r.Status != tt.status:
					t.Errorf("status %d %s, want %d", r.Status, r.Body, tt.status)
				case tt.status == 202 && (len(r.Body) != 0 || r.Header.Get("X-RateLimit-Limit") == ""):
					t.Errorf("202: body %q, headers %v", r.Body, r.Header)
				case tt.status == 200:
					r.wantSSE(t)
				}
				if r.Header.Get("Mcp-Session-Id") != "" {
					t.Errorf("Mcp-Session-Id issued")
				}
				if r.Header.Get("X-Request-Id") == "" {
					t.Errorf("no X-Request-Id")
				}
			})
		}
	}

	t.Run("StreamedTooLarge", func(t *testing.T) {
		for _, rt := range routes {
			// No Content-Length: the limit applies while reading.
			req, err := http.NewRequest(http.MethodPost, rt.url, io.MultiReader(strings.NewReader(big)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", mcpAccept)
			r := mcpDo(t, req, rt.headers...)
			if req.ContentLength != 0 || len(req.TransferEncoding) != 0 && req.TransferEncoding[0] != "chunked" {
				t.Fatalf("request was not streamed")
			}
			r.wantTransport(t, 413, -32000, msgTooLarge)
		}
	})

	// A body just under the limit is read whole.
	t.Run("BodyAtLimit", func(t *testing.T) {
		pad := maxBodyBytes - len(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""}}`)
		body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", pad) + `"}}`
		mcpPost(t, tokenURL, body).wantSSE(t)
	})
}

// wantSSE fails unless r is a 200 SSE answer with the §6.2 headers.
func (r *mcpResp) wantSSE(t testing.TB) *mcpResp {
	t.Helper()
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %q %s, want SSE", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Cache-Control"), "no-cache") {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"} {
		if r.Header.Get(h) == "" {
			t.Errorf("SSE response without %s", h)
		}
	}
	if _, ok := r.Msg["id"]; !ok {
		t.Errorf("no id: %s", r.Body)
	}
	return r
}

// Methods of §6.3 on a connectivity server.
func TestMCPMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Methods", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	tests := []struct {
		name   string
		body   string
		result string // exact result, or "" when code is set
		code   int
	}{
		{"Ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, `{}`, 0},
		{"PingWithParams", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}`, `{}`, 0},
		{"ResourcesList", `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, `{"resources":[]}`, 0},
		{"ResourceTemplatesList", `{"jsonrpc":"2.0","id":1,"method":"resources/templates/list"}`, `{"resourceTemplates":[]}`, 0},
		{"PromptsList", `{"jsonrpc":"2.0","id":1,"method":"prompts/list"}`, `{"prompts":[]}`, 0},
		{"LoggingSetLevel", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`, `{}`, 0},
		{"ResourcesRead", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///x"}}`, "", -32602},
		{"PromptsGet", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"x"}}`, "", -32602},
		{"CompletionComplete", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{}}`, "", -32601},
		{"UnknownMethod", `{"jsonrpc":"2.0","id":1,"method":"tools/delete"}`, "", -32601},
		{"UnknownMethodStringID", `{"jsonrpc":"2.0","id":"abc","method":"sampling/createMessage","params":{}}`, "", -32601},
		{"ToolsCallNoParams", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, "", -32602},
		{"ToolsCallParamsArray", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}`, "", -32602},
		{"ToolsCallParamsNull", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`, "", -32602},
		{"ToolsCallNoName", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`, "", -32602},
		{"ToolsCallNameNumber", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}`, "", -32602},
		{"ToolsCallUnknownTool", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope_alloy","arguments":{}}}`, "", -32602},
		{"ToolsCallArgumentsString", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connectors_alloy","arguments":"x"}}`, "", -32602},
		{"InitializeNoParams", `{"jsonrpc":"2.0","id":1,"method":"initialize"}`, "", -32602},
		{"LoggingNoParams", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel"}`, "", -32602},
		{"ResourcesReadNoParams", `{"jsonrpc":"2.0","id":1,"method":"resources/read"}`, "", -32602},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mcpPost(t, url, tt.body).wantSSE(t)
			var sent map[string]json.RawMessage
			_ = json.Unmarshal([]byte(tt.body), &sent)
			var got map[string]json.RawMessage
			data, _ := sseData(r.Body)
			_ = json.Unmarshal(data, &got)
			if string(got["id"]) != string(sent["id"]) {
				t.Errorf("id %s, want %s", got["id"], sent["id"])
			}
			if tt.code != 0 {
				r.wantRPCError(t, tt.code)
				return
			}
			if string(got["result"]) != tt.result {
				t.Errorf("result %s, want %s", got["result"], tt.result)
			}
		})
	}
}

// initialize: version negotiation, serverInfo, capabilities, instructions.
func TestMCPInitialize(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, withInstr := ts.mcpServer(map[string]any{"name": "Helper Bot", "customInstructions": "Always confirm before creating deals."})
	_, without := ts.mcpServer(map[string]any{"name": "Quiet Bot"})
	tests := []struct {
		name, url, sent, want, instructions, title string
	}{
		{"Supported2024", withInstr, "2024-11-05", "2024-11-05", "Always confirm before creating deals.", "Helper Bot"},
		{"Supported2025-03", withInstr, "2025-03-26", "2025-03-26", "Always confirm before creating deals.", "Helper Bot"},
		{"Supported2025-06", without, "2025-06-18", "2025-06-18", "", "Quiet Bot"},
		{"Supported2025-11", without, "2025-11-25", "2025-11-25", "", "Quiet Bot"},
		{"Unsupported", withInstr, "2099-01-01", "2025-11-25", "Always confirm before creating deals.", "Helper Bot"},
		{"Old", without, "2024-10-07", "2025-11-25", "", "Quiet Bot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mcpPost(t, tt.url, strings.Replace(initializeV, "VERSION", tt.sent, 1)).wantSSE(t)
			data, _ := sseData(r.Body)
			var msg struct {
				Result map[string]json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(data, &msg); err != nil {
				t.Fatal(err)
			}
			res := msg.Result
			if string(res["protocolVersion"]) != `"`+tt.want+`"` {
				t.Errorf("protocolVersion %s, want %s", res["protocolVersion"], tt.want)
			}
			if string(res["capabilities"]) != `{"tools":{}}` {
				t.Errorf("capabilities %s", res["capabilities"])
			}
			var info map[string]any
			_ = json.Unmarshal(res["serverInfo"], &info)
			if info["name"] != "patchbay" || info["title"] != tt.title || info["version"] != version {
				t.Errorf("serverInfo %s", res["serverInfo"])
			}
			instr, has := res["instructions"]
			switch {
			case tt.instructions == "" && has:
				t.Errorf("instructions present although empty: %s", instr)
			case tt.instructions != "" && string(instr) != `"`+tt.instructions+`"`:
				t.Errorf("instructions %s", instr)
			}
		})
	}
}

// tools/list: the eight meta tools in byte order, each with its four
// annotations and no outputSchema; cacheScope private; no nextCursor.
func TestMCPToolsList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Lister"})
	for _, version := range []string{"", "2024-11-05", "2025-06-18", "2025-11-25"} {
		t.Run("Version"+version, func(t *testing.T) {
			var h []string
			if version != "" {
				h = []string{"MCP-Protocol-Version", version}
			}
			r := mcpPost(t, url, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, h...).wantSSE(t)
			data, _ := sseData(r.Body)
			var msg struct {
				Result map[string]json.RawMessage `json:"result"`
			}
			_ = json.Unmarshal(data, &msg)
			if _, has := msg.Result["nextCursor"]; has {
				t.Errorf("nextCursor set")
			}
			if scope, has := msg.Result["cacheScope"]; has && string(scope) != `"private"` || !has && version == "2025-11-25" {
				t.Errorf("cacheScope %s", scope)
			}
			var tools []map[string]json.RawMessage
			_ = json.Unmarshal(msg.Result["tools"], &tools)
			var names []string
			for _, tl := range tools {
				var name string
				_ = json.Unmarshal(tl["name"], &name)
				names = append(names, name)
				if _, has := tl["outputSchema"]; has {
					t.Errorf("%s has an outputSchema", name)
				}
				var ann map[string]json.RawMessage
				_ = json.Unmarshal(tl["annotations"], &ann)
				for _, k := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
					if v := string(ann[k]); v != "true" && v != "false" {
						t.Errorf("%s: annotation %s = %q", name, k, v)
					}
				}
				var schema map[string]any
				if err := json.Unmarshal(tl["inputSchema"], &schema); err != nil || schema["type"] != "object" || schema["additionalProperties"] != false {
					t.Errorf("%s: inputSchema %s", name, tl["inputSchema"])
				}
			}
			if !slices.Equal(names, metaToolNames) || !sort.StringsAreSorted(names) {
				t.Errorf("tools %v", names)
			}
			want := map[string][4]string{
				"list_connectors_alloy":         {"true", "false", "true", "true"},
				"get_connector_resources_alloy": {"true", "false", "true", "true"},
				"get_action_details_alloy":      {"true", "false", "true", "true"},
				"execute_action_alloy":          {"false", "true", "false", "true"},
				"create_credential_alloy":       {"false", "false", "false", "true"},
				"get_credentials_alloy":         {"true", "false", "true", "true"},
				"get_credential_metadata_alloy": {"true", "false", "true", "true"},
				"discover_action_path_alloy":    {"true", "false", "true", "true"},
			}
			for _, tl := range tools {
				var name string
				_ = json.Unmarshal(tl["name"], &name)
				var ann map[string]json.RawMessage
				_ = json.Unmarshal(tl["annotations"], &ann)
				got := [4]string{string(ann["readOnlyHint"]), string(ann["destructiveHint"]), string(ann["idempotentHint"]), string(ann["openWorldHint"])}
				if got != want[name] {
					t.Errorf("%s annotations %v, want %v", name, got, want[name])
				}
			}
		})
	}
}

// The read cache: a repeated read is a hit with X-Cache-Hit and
// _meta patchbay/cacheHit, and the SSE response carries the limit headers.
func TestMCPCacheHitHeader(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))
	ts.storeCredential("acme-fake", "apiKey", "sk-admin", "")
	p.expect("sk-admin", "admin")
	_, url := ts.mcpServer(map[string]any{"name": "Cached"})
	_, uncached := ts.mcpServer(map[string]any{"name": "Uncached", "cache": false})
	call := func(url, action string) *mcpResp {
		return mcpPost(t, url, rpcBody("tools/call", map[string]any{"name": "execute_action_alloy",
			"arguments": map[string]any{"connectorId": "acme-fake", "actionId": action, "parameters": map[string]any{"itemId": "c1"}}}))
	}
	first := call(url, "items_get").wantSSE(t)
	if first.Header.Get("X-Cache-Hit") != "" || first.tool(t).Meta["patchbay/cacheHit"] != false {
		t.Fatalf("first call: %v %s", first.Header, first.Body)
	}
	n := p.callCount()
	second := call(url, "items_get").wantSSE(t)
	tr := second.tool(t).wantOK(t)
	if second.Header.Get("X-Cache-Hit") != "true" || tr.Meta["patchbay/cacheHit"] != true || p.callCount() != n {
		t.Fatalf("second call: X-Cache-Hit %q, _meta %v, upstream calls %d", second.Header.Get("X-Cache-Hit"), tr.Meta, p.callCount()-n)
	}
	if !bytes.Equal([]byte(first.tool(t).Text), []byte(tr.Text)) {
		t.Errorf("cached output differs: %s vs %s", first.Body, second.Body)
	}
	// The cache key has no server: another server of the same user hits.
	_, other := ts.mcpServer(map[string]any{"name": "Cached 2"})
	if r := call(other, "items_get"); r.Header.Get("X-Cache-Hit") != "true" {
		t.Errorf("another server of the same user: X-Cache-Hit %q", r.Header.Get("X-Cache-Hit"))
	}
	// A write through the same credential invalidates.
	call(url, "items_delete").tool(t).wantOK(t)
	if r := call(url, "items_get"); r.Header.Get("X-Cache-Hit") != "" {
		t.Errorf("after a write: X-Cache-Hit %q", r.Header.Get("X-Cache-Hit"))
	}
	// cache: false never hits.
	for range 2 {
		if r := call(uncached, "items_get"); r.Header.Get("X-Cache-Hit") != "" || r.tool(t).Meta["patchbay/cacheHit"] != false {
			t.Errorf("cache false: %v %s", r.Header, r.Body)
		}
	}
}

// The id is echoed unchanged, on the gateway's own answers and on the
// SDK's (§6.2 step 6).
func TestMCPIDEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Echo", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	ids := []string{`0`, `-0`, `-1`, `7`, `9007199254740991`, `-9007199254740993`, `9007199254740993`, `9223372036854775807`, `-9223372036854775808`, `""`, `"x"`, `"\u00e9"`, `"a\"b"`, `"1"`, `"null"`}
	for _, id := range ids {
		for _, method := range []string{"ping", "tools/list", "initialize", "tools/call", "nope"} {
			t.Run(method+"/"+id, func(t *testing.T) {
				params := ""
				switch method {
				case "initialize":
					params = `,"params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}`
				case "tools/call":
					params = `,"params":{"name":"list_connectors_alloy","arguments":{"query":"slack"}}`
				}
				r := mcpPost(t, url, `{"jsonrpc":"2.0","id":`+id+`,"method":"`+method+`"`+params+`}`).wantSSE(t)
				data, _ := sseData(r.Body)
				var got map[string]json.RawMessage
				_ = json.Unmarshal(data, &got)
				if !sameJSON(got["id"], json.RawMessage(id)) {
					t.Errorf("id %s echoed as %s", id, got["id"])
				}
			})
		}
	}
}

// sameJSON compares two JSON values: strings by value, numbers by text.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) > 0 && a[0] == '"' {
		var x, y string
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x == y
	}
	return string(a) == string(b)
}

// §6.2 step 5 runs authentication, then the body read (413 while reading),
// then the effective user: a token URL that does not authenticate is 401
// whatever its body; one that does gets 413 for a streamed body over the
// limit, even with a user JWT that would fail.
func TestMCPBodyReadOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = maxBodyBytes })
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Order"})
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 4*maxBodyBytes) + `"}}`
	streamed := func(url string, headers ...string) *mcpResp {
		req, err := http.NewRequest(http.MethodPost, url, io.MultiReader(strings.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", mcpAccept)
		return mcpDo(t, req, headers...)
	}
	streamed(ts.URL+"/mcp/"+id+"/mcp_token_"+strings.Repeat("Z", 40)).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	streamed(ts.URL+"/mcp/nobody-00000000/mcp_token_"+strings.Repeat("Z", 40)).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	streamed(tokenURL).wantTransport(t, 413, -32000, msgTooLarge)
	streamed(tokenURL, "x-alloy-user-token", "a.b.c").wantTransport(t, 413, -32000, msgTooLarge)
	// With a body in bounds, the bad JWT is the answer.
	mcpPost(t, tokenURL, ping, "x-alloy-user-token", "a.b.c").wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

// The same order on the API-key routes: an unknown key is 401 whatever the
// body.
func TestMCPBodyReadOrderAPIKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = maxBodyBytes })
	id, _ := ts.mcpServer(map[string]any{"name": "Order Key"})
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 4*maxBodyBytes) + `"}}`
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/mcp/"+id, io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", mcpAccept)
	mcpDo(t, req, "Authorization", "Bearer pb_"+strings.Repeat("Q", 40)).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

// x-mcp-server-id (§6.1) and the CORS preflight of an allowed origin on the
// MCP routes (§17.3).
func TestMCPServerIDHeaderAndPreflight(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.AllowedOrigins = "https://app.example.com" })
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Header"})
	other, _ := ts.mcpServer(map[string]any{"name": "Other"})
	admin := []string{"Authorization", "Bearer " + ts.AdminKey}
	mcpPost(t, tokenURL, ping, "x-mcp-server-id", other).wantEnv(t, http.StatusBadRequest, "INVALID_REQUEST")
	mcpPost(t, tokenURL, ping, "x-mcp-server-id", id).wantSSE(t)
	mcpPost(t, ts.URL+"/mcp/"+id, ping, append([]string{"x-mcp-server-id", other}, admin...)...).wantEnv(t, http.StatusBadRequest, "INVALID_REQUEST")
	r := mcpPost(t, ts.URL+"/mcp", ping, admin...).wantEnv(t, http.StatusBadRequest, "INVALID_REQUEST")
	if r.envDetail("field") != "x-mcp-server-id" {
		t.Errorf("details.field %v", r.envDetail("field"))
	}
	mcpPost(t, ts.URL+"/mcp", ping, append([]string{"x-mcp-server-id", id}, admin...)...).wantSSE(t)

	for _, u := range []string{tokenURL, ts.URL + "/mcp/" + id, ts.URL + "/mcp"} {
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		res, err := mcpHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			res.Header.Get("Access-Control-Allow-Methods") != "POST" || res.Header.Get("Access-Control-Max-Age") != "600" ||
			res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight on %s: %d %v", redactToken(req.URL.Path), res.StatusCode, res.Header)
		}
	}
	// A request from that origin gets the exposed headers.
	r = mcpPost(t, tokenURL, ping, "Origin", "https://app.example.com").wantSSE(t)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
		t.Errorf("CORS headers %v", r.Header)
	}
}
