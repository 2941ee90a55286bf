package gateway

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestAppendResponseMatchesEncodingJSON pins the hand-written result
// encoder against encoding/json's encoding of the same CallToolResult (the
// SDK's own encoding), including _meta, HTML and non-ASCII characters.
func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		res  *mcp.CallToolResult
	}{
		{name: "Plain", res: okRaw(json.RawMessage(`{"a":1}`))},
		{name: "HTMLAndUnicode", res: okRaw(json.RawMessage(`{"s":"<b>&é\u2028"}`))},
		{name: "WithMeta", res: func() *mcp.CallToolResult {
			r := okRaw(json.RawMessage(`{"id":"c_1","tags":["x"]}`))
			r.Meta = mcp.Meta{"patchbay/connectorId": "acme-crm", "patchbay/actionId": "contacts_get",
				"patchbay/credentialId": "cred_KWKtV8P8tqIwUaw71Veu", "patchbay/upstreamStatus": 200, "patchbay/cacheHit": false}
			return r
		}()},
		{name: "Error", res: (&call{requestID: "req_<x>"}).fail(errForTest())},
		{name: "NotSimple", res: &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendResponse(nil, json.RawMessage(`7`), tt.res)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tt.res); err != nil {
				t.Fatal(err)
			}
			w := `{"jsonrpc":"2.0","id":7,"result":` + string(bytes.TrimRight(want.Bytes(), "\n")) + `}`
			if string(got) != w {
				t.Fatalf("got\n%s\nwant\n%s", got, w)
			}
		})
	}
}

func errForTest() error {
	return &patchbayErr{}
}

type patchbayErr struct{}

func (*patchbayErr) Error() string { return "boom <&>" }
