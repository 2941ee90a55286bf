package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbay-mcp/patchbay/strictjson"
)

// JSON-RPC codes (§3.3).
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeServer         = -32000
)

// Protocol versions the face accepts (§6.3).
var protocolVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}

func supportedVersion(v string) bool {
	for _, s := range protocolVersions {
		if s == v {
			return true
		}
	}
	return false
}

// requestMethods are the methods that require an id (§6.3).
var requestMethods = map[string]bool{
	"initialize": true, "ping": true, "tools/list": true, "tools/call": true, "resources/list": true,
	"resources/templates/list": true, "prompts/list": true, "resources/read": true, "prompts/get": true,
	"logging/setLevel": true, "completion/complete": true,
}

// paramsRequired lists methods whose params must be an object.
var paramsRequired = map[string]bool{
	"initialize": true, "tools/call": true, "resources/read": true, "prompts/get": true, "logging/setLevel": true,
}

// message is one validated JSON-RPC message.
type message struct {
	ID     json.RawMessage // nil for a notification
	Method string
	Params json.RawMessage // nil when absent
}

// rpcFailure is a transport-layer rejection (§3.3): HTTP status, code, message.
type rpcFailure struct {
	status  int
	code    int
	message string
}

func parseFailure() *rpcFailure {
	return &rpcFailure{status: http.StatusBadRequest, code: codeParse, message: "Parse error"}
}

func invalidRequest(msg string) *rpcFailure {
	return &rpcFailure{status: http.StatusBadRequest, code: codeInvalidRequest, message: msg}
}

// parseMessage applies §6.2 step 6. Member names are matched exactly;
// duplicates anywhere are a parse error. The body is scanned twice: once
// for validity and duplicates, once to take the top level apart.
func parseMessage(body []byte) (*message, *rpcFailure) {
	if err := strictjson.Check(body, strictjson.Options{}); err != nil {
		return nil, parseFailure()
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, invalidRequest("Invalid Request: batching is not supported")
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, invalidRequest("Invalid Request")
	}
	var m message
	var version, method []byte
	bad := false
	err := strictjson.Members(body, func(name, value []byte) error {
		switch string(name) {
		case "jsonrpc":
			version = value
		case "method":
			method = value
		case "id":
			if !validID(value) {
				bad = true
			}
			m.ID = value
		case "params":
			m.Params = value
		case "result", "error":
			bad = true
		}
		return nil
	})
	if err != nil {
		return nil, parseFailure()
	}
	if bad || string(version) != `"2.0"` || len(method) == 0 || method[0] != '"' {
		return nil, invalidRequest("Invalid Request")
	}
	var ok bool
	if m.Method, ok = jsonString(method); !ok {
		return nil, invalidRequest("Invalid Request")
	}
	isNotification := strings.HasPrefix(m.Method, "notifications/")
	if m.ID == nil && requestMethods[m.Method] {
		return nil, invalidRequest("Invalid Request")
	}
	if m.ID != nil && isNotification {
		return nil, invalidRequest("Invalid Request")
	}
	return &m, nil
}

// jsonString decodes a JSON string literal, without an allocation beyond
// the result when it has no escapes.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// validID accepts a string or an integer (§6.2 step 6).
func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	if id[0] == '"' {
		var s string
		return json.Unmarshal(id, &s) == nil
	}
	if _, err := strconv.ParseInt(string(id), 10, 64); err == nil {
		return true
	}
	return false
}

func isObject(p json.RawMessage) bool {
	p = bytes.TrimLeft(p, " \t\r\n")
	return len(p) > 0 && p[0] == '{'
}

// writeSSE writes one JSON-RPC response as a single SSE event (§6.2).
func writeSSE(w http.ResponseWriter, payload []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// The event is complete: one write with a length, not a chunked stream.
	const pre, post = "event: message\ndata: ", "\n\n"
	h.Set("Content-Length", strconv.Itoa(len(pre)+len(payload)+len(post)))
	w.WriteHeader(http.StatusOK)
	b := make([]byte, 0, len(pre)+len(payload)+len(post))
	b = append(append(append(b, pre...), payload...), post...)
	_, _ = w.Write(b)
}

func rpcResult(id json.RawMessage, result string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":` + result + `}`)
}

func rpcError(id json.RawMessage, code int, msg string) []byte {
	m, _ := json.Marshal(msg)
	return []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"error":{"code":` + strconv.Itoa(code) + `,"message":` + string(m) + `}}`)
}

// acceptsBoth implements §6.2 step 3: the Accept header must admit both
// application/json and text/event-stream under RFC 9110 matching.
func acceptsBoth(values []string) bool {
	jsonOK, sseOK := false, false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
			switch mt {
			case "*/*":
				jsonOK, sseOK = true, true
			case "application/*", "application/json":
				jsonOK = true
			case "text/*", "text/event-stream":
				sseOK = true
			}
		}
	}
	return jsonOK && sseOK
}
