package upstream

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/patchbay-mcp/patchbay"
)

func TestNormalizeID(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name, in, want string
	}{
		{name: "Plain", in: "search_docs", want: "search_docs"},
		{name: "Dots", in: "docs.search", want: "docs_search"},
		{name: "Dashes", in: "get-sum", want: "get_sum"},
		{name: "RunsCollapse", in: "a..--__b", want: "a_b"},
		{name: "Trimmed", in: "__a b__", want: "a_b"},
		{name: "Digit", in: "2fa.verify", want: "op_2fa_verify"},
		{name: "NonASCII", in: "café_menü", want: "caf_men"},
		{name: "OnlyPunctuation", in: "--", want: "op_"},
		{name: "CaseKept", in: "GetUser", want: "GetUser"},
		{name: "Cut", in: long, want: long[:64]},
		{name: "CutAfterPrefix", in: "1" + long, want: ("op_1" + long)[:64]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeID(tt.in); got != tt.want {
				t.Errorf("normalizeID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var actionIDRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"", "a", "get-sum", "2fa", "__x__", "é", strings.Repeat("ab.", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id := normalizeID(name)
		if !actionIDRe.MatchString(id) {
			t.Fatalf("normalizeID(%q) = %q, not an actionId", name, id)
		}
		taken := map[string]bool{strings.ToLower(id): true}
		if d := dedupe(id, taken); !actionIDRe.MatchString(d) || strings.EqualFold(d, id) {
			t.Fatalf("dedupe(%q) = %q", id, d)
		}
	})
}

func TestToConnectorTools(t *testing.T) {
	obj := json.RawMessage(`{"type":"object"}`)
	long64 := strings.Repeat("x", 64)
	tests := []struct {
		name     string
		tools    []*mcp.Tool
		want     []patchbay.Action
		warnings []string
	}{
		{
			name:  "DefaultHints",
			tools: []*mcp.Tool{{Name: "t", InputSchema: obj}},
			want:  []patchbay.Action{{ID: "t", Name: "t", Method: "MCP", Parameters: obj, Tool: "t", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)}},
		},
		{
			name: "ReadOnlyIsNeverDestructive",
			tools: []*mcp.Tool{{Name: "t", InputSchema: obj,
				Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: patchbay.Bool(true)}}},
			want: []patchbay.Action{{ID: "t", Name: "t", Method: "MCP", Parameters: obj, Tool: "t", ReadOnly: patchbay.Bool(true), Destructive: patchbay.Bool(false), Idempotent: patchbay.Bool(false)}},
		},
		{
			name: "TitlePrecedence",
			tools: []*mcp.Tool{
				{Name: "a", Title: "Title", Annotations: &mcp.ToolAnnotations{Title: "Annotation"}, InputSchema: obj},
				{Name: "b", Annotations: &mcp.ToolAnnotations{Title: "Annotation"}, InputSchema: obj},
			},
			want: []patchbay.Action{
				{ID: "a", Name: "Title", Method: "MCP", Parameters: obj, Tool: "a", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
				{ID: "b", Name: "Annotation", Method: "MCP", Parameters: obj, Tool: "b", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
			},
		},
		{
			name: "SchemaFromMapAndMissing",
			tools: []*mcp.Tool{
				{Name: "m", InputSchema: map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}},
				{Name: "n"},
				{Name: "s", InputSchema: json.RawMessage(`"nope"`)},
			},
			want: []patchbay.Action{
				{ID: "m", Name: "m", Method: "MCP", Parameters: json.RawMessage(`{"properties":{"q":{"type":"string"}},"type":"object"}`), Tool: "m", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
				{ID: "n", Name: "n", Method: "MCP", Parameters: obj, Tool: "n", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
				{ID: "s", Name: "s", Method: "MCP", Parameters: obj, Tool: "s", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
			},
			warnings: []string{
				`tool "n": inputSchema is not a JSON object; using {"type":"object"}`,
				`tool "s": inputSchema is not a JSON object; using {"type":"object"}`,
			},
		},
		{
			name: "DedupeKeepsLength",
			tools: []*mcp.Tool{
				{Name: long64, InputSchema: obj},
				{Name: strings.ToUpper(long64), InputSchema: obj},
				{Name: long64 + "-", InputSchema: obj},
			},
			want: []patchbay.Action{
				{ID: long64, Name: long64, Method: "MCP", Parameters: obj, Tool: long64, ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
				{ID: strings.ToUpper(long64)[:62] + "_2", Name: strings.ToUpper(long64), Method: "MCP", Parameters: obj, Tool: strings.ToUpper(long64), ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
				{ID: long64[:62] + "_3", Name: long64 + "-", Method: "MCP", Parameters: obj, Tool: long64 + "-", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)},
			},
			warnings: []string{
				fmt.Sprintf(`tool %q: id %q (duplicate of an earlier tool's id)`, strings.ToUpper(long64), strings.ToUpper(long64)[:62]+"_2"),
				fmt.Sprintf(`tool %q: id %q (duplicate of an earlier tool's id)`, long64+"-", long64[:62]+"_3"),
			},
		},
		{
			name:     "LongTextCut",
			tools:    []*mcp.Tool{{Name: "t", Title: strings.Repeat("é", 101), Description: strings.Repeat("d", 4001), InputSchema: obj}},
			want:     []patchbay.Action{{ID: "t", Name: strings.Repeat("é", 100), Description: strings.Repeat("d", 4000), Method: "MCP", Parameters: obj, Tool: "t", ReadOnly: patchbay.Bool(false), Destructive: patchbay.Bool(true), Idempotent: patchbay.Bool(false)}},
			warnings: []string{`tool "t": name cut to 100 characters`, `tool "t": description cut to 4000 characters`},
		},
		{
			name:     "NamelessSkipped",
			tools:    []*mcp.Tool{nil, {Name: ""}},
			want:     []patchbay.Action{},
			warnings: []string{"tool 0 skipped: no name", "tool 1 skipped: no name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := ToConnector(MCPDefinition{ID: "x", Name: "X", URL: "https://mcp.example/mcp"}, tt.tools)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Resources[0].Actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToConnectorTooManyTools(t *testing.T) {
	tools := make([]*mcp.Tool, 501)
	for i := range tools {
		tools[i] = &mcp.Tool{Name: fmt.Sprintf("t%d", i)}
	}
	_, _, err := ToConnector(MCPDefinition{ID: "x"}, tools)
	if patchbay.ErrorCode(err) != patchbay.EInvalid {
		t.Fatalf("err = %v, want EInvalid", err)
	}
	if diff := cmp.Diff(map[string]any{"field": "tools", "reason": "too_many_tools"}, patchbay.ErrorDetails(err)); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}

func TestRestoreSchemas(t *testing.T) {
	sse := &capture{sse: true}
	sse.write([]byte("id: 1\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[\r\n\r\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"b\",\"inputSchema\":{\"type\":\"object\",\"z\":1,\"a\":2}}]}}\n\n"))
	plain := &capture{}
	plain.write([]byte(`{"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"a","inputSchema":{"type":"object","y":1,"b":2}},{"name":"a","inputSchema":{"type":"object","second":true}}]}}`))
	tools := []*mcp.Tool{
		{Name: "a", InputSchema: map[string]any{"type": "object"}},
		{Name: "a", InputSchema: map[string]any{"type": "object"}},
		{Name: "b", InputSchema: map[string]any{"type": "object"}},
		{Name: "c", InputSchema: map[string]any{"type": "object"}},
	}
	restoreSchemas(tools, []*capture{sse, plain})
	var got []string
	for _, tl := range tools {
		b, _ := json.Marshal(tl.InputSchema)
		got = append(got, string(b))
	}
	want := []string{`{"type":"object","y":1,"b":2}`, `{"type":"object","second":true}`, `{"type":"object","z":1,"a":2}`, `{"type":"object"}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schemas (-want +got):\n%s", diff)
	}
}

func FuzzMessages(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{}}]}}`), false)
	f.Add([]byte("data: {}\n\ndata: [1,\ndata: 2]\n\n"), true)
	f.Add([]byte(`[{"result":{"tools":[]}}, 1]`), false)
	f.Fuzz(func(t *testing.T, body []byte, sse bool) {
		c := &capture{sse: sse}
		c.write(body)
		tools := []*mcp.Tool{{Name: "a"}}
		restoreSchemas(tools, []*capture{c}) // must not panic
		if raw, ok := tools[0].InputSchema.(json.RawMessage); ok && !json.Valid(raw) {
			t.Fatalf("invalid schema restored: %s", raw)
		}
	})
}

func TestResultValueRedaction(t *testing.T) {
	secrets := secretSet("s3cr<et>", "12345678")
	tests := []struct {
		name string
		res  *mcp.CallToolResult
		want string
	}{
		{name: "InString", res: &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "key s3cr<et>"}}}, want: `"key [REDACTED]"`},
		{name: "HTMLEscapedJSON", res: &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"k":"s3cr\u003cet\u003e"}`}}}, want: `{"k":"[REDACTED]"}`},
		{name: "BareNumberKeepsJSONValid", res: &mcp.CallToolResult{StructuredContent: map[string]any{"n": 12345678}}, want: `"{\"n\":[REDACTED]}"`},
		{name: "Empty", res: &mcp.CallToolResult{}, want: `null`},
		{name: "EmptyText", res: &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{}}}, want: `""`},
		{name: "Image", res: &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{Data: []byte{1}, MIMEType: "image/png"}}}, want: `{"type":"image","mimeType":"image/png","data":"AQ=="}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resultValue(tt.res, secrets)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}
