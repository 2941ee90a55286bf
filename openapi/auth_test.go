package openapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

func TestSecuritySchemes(t *testing.T) {
	tests := []struct {
		name     string
		schemes  string // the components.securitySchemes block
		want     []patchbay.AuthScheme
		warnings []string
	}{
		{
			name: "APIKeyHeaderAndQuery",
			schemes: `
key: {type: apiKey, in: header, name: X-Api-Key}
other: {type: apiKey, in: query, name: api_key}
`,
			want:     []patchbay.AuthScheme{{Type: "apiKey", In: "header", Name: "X-Api-Key"}},
			warnings: []string{"security scheme other skipped: the connector already has the apiKey scheme key"},
		},
		{
			name:     "APIKeyCookieSkipped",
			schemes:  `session: {type: apiKey, in: cookie, name: sid}`,
			warnings: []string{"security scheme session skipped: apiKey in cookie is not supported"},
		},
		{
			name: "HTTPBearerBasicDigest",
			schemes: `
digest: {type: http, scheme: digest}
bearer: {type: http, scheme: Bearer, bearerFormat: JWT}
basic: {type: http, scheme: basic}
`,
			want:     []patchbay.AuthScheme{{Type: "bearer"}, {Type: "basic"}},
			warnings: []string{"security scheme digest skipped: http scheme digest is not supported"},
		},
		{
			name: "OAuth2AuthorizationCode",
			schemes: `
oauth:
  type: oauth2
  flows:
    implicit: {authorizationUrl: 'https://auth.example.com/authorize', scopes: {a: A}}
    clientCredentials: {tokenUrl: 'https://auth.example.com/token', scopes: {}}
    password: {tokenUrl: 'https://auth.example.com/token', scopes: {}}
    authorizationCode:
      authorizationUrl: 'https://auth.example.com/authorize'
      tokenUrl: /oauth/token
      refreshUrl: 'https://auth.example.com/refresh'
      scopes: {write: Write things, read: Read things}
`,
			want: []patchbay.AuthScheme{{Type: "oauth2", AuthorizationURL: "https://auth.example.com/authorize",
				TokenURL: "https://api.example.com/oauth/token", Scopes: []string{"read", "write"}}},
			warnings: []string{
				"security scheme oauth: flow implicit skipped: only authorizationCode is supported",
				"security scheme oauth: flow password skipped: only authorizationCode is supported",
				"security scheme oauth: flow clientCredentials skipped: only authorizationCode is supported",
			},
		},
		{
			name: "OAuth2WithoutAuthorizationCode",
			schemes: `
machine: {type: oauth2, flows: {clientCredentials: {tokenUrl: 'https://a.example/token', scopes: {}}}}
`,
			warnings: []string{
				"security scheme machine: flow clientCredentials skipped: only authorizationCode is supported",
				"security scheme machine skipped: no authorizationCode flow",
			},
		},
		{
			name: "SecondOAuth2AndOthers",
			schemes: `
OAuth2: {type: oauth2, flows: {authorizationCode: {authorizationUrl: 'https://a.example/auth', tokenUrl: 'https://a.example/token', scopes: {}}}}
OrgOAuth2: {type: oauth2, flows: {authorizationCode: {authorizationUrl: 'https://a.example/org', tokenUrl: 'https://a.example/token', scopes: {}}}}
oidc: {type: openIdConnect, openIdConnectUrl: 'https://a.example/.well-known/openid-configuration'}
mtls: {type: mutualTLS}
`,
			want: []patchbay.AuthScheme{{Type: "oauth2", AuthorizationURL: "https://a.example/auth", TokenURL: "https://a.example/token"}},
			warnings: []string{
				"security scheme OrgOAuth2 skipped: the connector already has the oauth2 scheme OAuth2",
				"security scheme oidc skipped: type openIdConnect is not supported",
				"security scheme mtls skipped: type mutualTLS is not supported",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := doc31("paths: {/a: {get: {operationId: a, responses: {'200': {description: ok}}}}}\ncomponents:\n  securitySchemes:\n" + indent(tt.schemes, 4))
			res := mustImport(t, doc, nil)
			if diff := cmp.Diff(tt.want, res.Connector.Auth); diff != "" {
				t.Errorf("auth (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPIKeyParameterLeftToCredential: a parameter that an apiKey scheme
// fills in is not offered to the model (the definition would be invalid).
func TestAPIKeyParameterLeftToCredential(t *testing.T) {
	res := mustImport(t, doc30(`paths:
  /a:
    get:
      operationId: a
      parameters:
        - {name: api_key, in: query, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses: {'200': {description: ok}}
components:
  securitySchemes:
    key: {type: apiKey, in: query, name: api_key}
`), nil)
	want := []actionView{{Resource: "a", ID: "a", Name: "a", Method: "GET", Path: "/a",
		Params: js(t, `{"type":"object","properties":{"q":{"type":"string","x-in":"query"}}}`)}}
	if diff := cmp.Diff(want, views(res.Connector)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}
