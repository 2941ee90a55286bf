package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callTool answers a validated tools/call without go-sdk's per-request
// session (ADR 8): the same tool handlers that the SDK server registers,
// found by name in the built server, and the result written as the one SSE
// event the SDK would write. initialize and tools/list still go through
// the SDK.
func (h *Handler) callTool(w http.ResponseWriter, r *http.Request, c *call, b *builtServer, id json.RawMessage, params json.RawMessage) {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		Meta      json.RawMessage `json:"_meta"`
	}
	// checkCallParams has vetted the member names, so a case-insensitive
	// decoder cannot be confused here.
	if err := json.Unmarshal(params, &p); err != nil {
		writeSSE(w, rpcError(id, codeInvalidParams, "Invalid params"))
		return
	}
	fn := b.tools[p.Name]
	if fn == nil {
		writeSSE(w, rpcError(id, codeInvalidParams, "Unknown tool: "+strconv.Quote(p.Name)))
		return
	}
	if len(p.Arguments) == 0 || string(p.Arguments) == "null" {
		p.Arguments = nil
	}
	req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: p.Name, Arguments: p.Arguments}}
	res, err := fn(context.WithValue(r.Context(), callKey{}, c), req)
	if err != nil || res == nil {
		h.opts.Logger.ErrorContext(r.Context(), "tool handler failed", "tool", p.Name, "error", errString(err))
		writeSSE(w, rpcError(id, -32603, "Internal error"))
		return
	}
	if res.Content == nil {
		res.Content = []mcp.Content{}
	}
	var body bytes.Buffer
	body.Grow(256)
	body.WriteString(`{"jsonrpc":"2.0","id":`)
	body.Write(id)
	body.WriteString(`,"result":`)
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "tool result not encodable", "tool", p.Name, "error", err.Error())
		writeSSE(w, rpcError(id, -32603, "Internal error"))
		return
	}
	out := bytes.TrimRight(body.Bytes(), "\n")
	out = append(out, '}')
	c.mu.Lock()
	hit := c.cacheHit
	c.mu.Unlock()
	if hit {
		w.Header().Set("X-Cache-Hit", "true")
	}
	writeSSE(w, out)
}

func errString(err error) string {
	if err == nil {
		return "nil result"
	}
	return err.Error()
}
