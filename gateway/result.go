package gateway

import (
	"bytes"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/frontdoor"
)

// marshal encodes v compactly without HTML escaping (§7 output rule).
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage(`{}`)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// okRaw is a successful tool result whose structured content is s.
func okRaw(s json.RawMessage) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(s)}}, StructuredContent: s}
}

func ok(v any) *mcp.CallToolResult { return okRaw(marshal(v)) }

// fail is a tool error: the envelope as structured content and text, with
// isError (§3.3, §7). Internal errors show only "Internal error".
func (c *call) fail(err error, extra ...any) *mcp.CallToolResult {
	code, msg := patchbay.ErrorCode(err), patchbay.ErrorMessage(err)
	c.mu.Lock()
	c.errCode = code
	c.mu.Unlock()
	details := map[string]any{}
	for k, v := range patchbay.ErrorDetails(err) {
		details[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		details[extra[i].(string)] = extra[i+1]
	}
	details["requestId"] = c.requestID
	env := marshal(frontdoor.ErrorBody{Error: frontdoor.ErrorObject{Code: code, Message: msg, Details: details}})
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(env)}}, StructuredContent: env, IsError: true}
}
