package oauth_test

import (
	"context"
	"testing"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
)

// BenchmarkMaterial is the per-call cost on the tools/call path: open the
// sealed record of a warm account into material.
func BenchmarkMaterial(b *testing.B) {
	e := newEnv(b, envOptions{})
	ctx := context.Background()
	c, err := e.m.CreateCredential(ctx, oauth.CreateInput{AccountID: accountA, UserID: userA, ConnectorID: "acme-crm",
		AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"apiKey": "k-0123456789abcdef", "region": "eu"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.m.Source(c, "", "").Material(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
