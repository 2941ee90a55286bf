package authmeta

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

// TestContractExample pins the §7.7 example of the acme-crm connector.
func TestContractExample(t *testing.T) {
	region := []patchbay.AuthField{{Name: "region", Label: "", Secret: patchbay.Bool(false), Enum: []string{"us", "eu"}}}
	tests := []struct {
		name    string
		scheme  patchbay.AuthScheme
		secrets bool
		want    string
	}{
		{name: "OAuth2", scheme: patchbay.AuthScheme{Type: "oauth2", Fields: region},
			want: `{"authenticationType":"oauth2","authConfigRequired":false,"configured":true,"inputSchema":{"type":"object","properties":{"authenticationType":{"type":"string","const":"oauth2"},"redirectUri":{"type":"string","format":"uri"},"fields":{"type":"object","properties":{"region":{"type":"string","enum":["us","eu"]}},"required":["region"],"additionalProperties":false},"name":{"type":"string"}},"required":["authenticationType","fields"]},"sampleInput":{"authenticationType":"oauth2","redirectUri":"https://app.example.com/integrations/callback","fields":{"region":"us"}}}`},
		{name: "APIKeyForm", scheme: patchbay.AuthScheme{Type: "apiKey", In: "header", Name: "X-Api-Key", Fields: region},
			want: `{"authenticationType":"apiKey","authConfigRequired":false,"configured":true,"inputSchema":{"type":"object","properties":{"authenticationType":{"type":"string","const":"apiKey"},"redirectUri":{"type":"string","format":"uri"},"fields":{"type":"object","properties":{"region":{"type":"string","enum":["us","eu"]}},"additionalProperties":false},"name":{"type":"string"}},"required":["authenticationType"]},"sampleInput":{"authenticationType":"apiKey","fields":{"region":"us"}}}`},
		{name: "APIKeySecretsInArguments", scheme: patchbay.AuthScheme{Type: "apiKey", In: "header", Name: "X-Api-Key", Fields: region}, secrets: true,
			want: `{"authenticationType":"apiKey","authConfigRequired":false,"configured":true,"inputSchema":{"type":"object","properties":{"authenticationType":{"type":"string","const":"apiKey"},"fields":{"type":"object","properties":{"apiKey":{"type":"string","writeOnly":true},"region":{"type":"string","enum":["us","eu"]}},"required":["apiKey","region"],"additionalProperties":false},"name":{"type":"string"}},"required":["authenticationType","fields"]},"sampleInput":{"authenticationType":"apiKey","fields":{"apiKey":"<secret>","region":"us"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(Describe(&tt.scheme, tt.secrets, "https://app.example.com/integrations/callback", true)); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(b.String()); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
