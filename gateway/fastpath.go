package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callTool answers a validated tools/call without go-sdk's per-request
// session (ADR 8): the same tool handlers that the SDK server registers,
// found by name in the built server, and the result written as the one SSE
// event the SDK would write. initialize and tools/list still go through
// the SDK.
func (h *Handler) callTool(w http.ResponseWriter, r *http.Request, c *call, b *builtServer, id json.RawMessage, p callParams) {
	fn := b.tools[p.name]
	if fn == nil {
		writeSSE(w, rpcError(id, codeInvalidParams, "Unknown tool: "+strconv.Quote(p.name)))
		return
	}
	req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: p.name, Arguments: p.arguments}}
	res, err := fn(context.WithValue(r.Context(), callKey{}, c), req)
	if err != nil || res == nil {
		h.opts.Logger.ErrorContext(r.Context(), "tool handler failed", "tool", p.name, "error", errString(err))
		writeSSE(w, rpcError(id, -32603, "Internal error"))
		return
	}
	body := appendResponse(make([]byte, 0, 256+2*len(resultText(res))), id, res)
	c.mu.Lock()
	hit := c.cacheHit
	c.mu.Unlock()
	if hit {
		w.Header().Set("X-Cache-Hit", "true")
	}
	writeSSE(w, body)
}

// resultText is the text of a result built by ok or fail, or "".
func resultText(res *mcp.CallToolResult) string {
	if len(res.Content) == 1 {
		if t, ok := res.Content[0].(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return ""
}

// appendResponse appends the JSON-RPC response carrying res, encoded as
// go-sdk encodes a CallToolResult (members _meta, content,
// structuredContent, isError; text escaped as encoding/json does), so that
// the fast path answers byte for byte what the SDK would. Results that are
// not the one-text-item shape the tools build go through encoding/json.
func appendResponse(b []byte, id json.RawMessage, res *mcp.CallToolResult) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	raw, simple := res.StructuredContent.(json.RawMessage)
	text, isText := res.Content, false
	if len(text) == 1 {
		_, isText = text[0].(*mcp.TextContent)
	}
	if !simple || !isText || text[0].(*mcp.TextContent).Meta != nil || text[0].(*mcp.TextContent).Annotations != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if res.Content == nil {
			res.Content = []mcp.Content{}
		}
		_ = enc.Encode(res) // a CallToolResult of tool handlers always encodes
		b = append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
		return append(b, '}')
	}
	b = append(b, '{')
	if len(res.Meta) > 0 {
		b = append(b, `"_meta":{`...)
		keys := make([]string, 0, len(res.Meta))
		for k := range res.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			kq, _ := json.Marshal(k)
			v, _ := json.Marshal(res.Meta[k])
			b = append(b, kq...)
			b = append(b, ':')
			b = append(b, v...)
		}
		b = append(b, `},`...)
	}
	t, _ := json.Marshal(text[0].(*mcp.TextContent).Text)
	b = append(b, `"content":[{"type":"text","text":`...)
	b = append(b, t...)
	b = append(b, `}],"structuredContent":`...)
	b = appendHTMLEscaped(b, raw)
	if res.IsError {
		b = append(b, `,"isError":true`...)
	}
	return append(b, `}}`...)
}

func errString(err error) string {
	if err == nil {
		return "nil result"
	}
	return err.Error()
}

// appendHTMLEscaped appends valid JSON with <, >, & and U+2028/U+2029
// escaped as encoding/json's Marshal escapes them: those characters can
// only stand inside strings, so a byte-wise replacement is exact.
func appendHTMLEscaped(b, raw []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '<' || c == '>' || c == '&' {
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			start = i + 1
			continue
		}
		if c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[raw[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(b, raw[start:]...)
}
