package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay-mcp/patchbay"
)

// FirstRelease describes the rows each store's migration test writes in the
// first release's schema (an account with two JWT secrets, an admin key, a
// server, a credential) with its own SQL dialect. The values the SQL needs
// are here so both stores write, and Check expects, the same data.
type FirstRelease struct {
	T0, Expires, LastUsed time.Time
	KeyHash, TokenHash    []byte
}

// NewFirstRelease returns the fixture's values.
func NewFirstRelease() FirstRelease {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	return FirstRelease{T0: t0, Expires: t0.Add(90 * 24 * time.Hour), LastUsed: t0.Add(time.Hour),
		KeyHash: hash("pb_key"), TokenHash: hash("tok")}
}

// Check reads the fixture's rows back through s, opened after migrating, and
// compares every field; then it writes to a table the first release did not
// have.
func (f FirstRelease) Check(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	t0, exp, used := f.T0, f.Expires, f.LastUsed
	allowed := []string{"slack"}
	wantAccount := &patchbay.Account{ID: "acme", Name: "Acme", AllowedRedirectURIs: []string{"https://app.example.com/cb"},
		JWTPublicKeys: json.RawMessage(`{"keys": []}`), JWTCurrent: patchbay.JWTSecret{Version: 2, Sealed: []byte{1, 0, 0, 0, 2}, CreatedAt: t0},
		JWTPrevious: &patchbay.JWTSecret{Version: 1, Sealed: []byte{1, 0, 0, 0, 1}, CreatedAt: t0}, JWTPreviousValidUntil: t0.Add(24 * time.Hour),
		Version: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
	wantKey := &patchbay.APIKey{ID: "key_admin1", AccountID: "acme", UserID: "admin", Name: "Bootstrap", Role: patchbay.RoleAdmin,
		Prefix: "pb_AbCd", Hash: f.KeyHash, RequireSignature: true, SigningSecretSealed: []byte{1, 9}, CreatedAt: t0, LastUsedAt: &used}
	wantServer := &patchbay.Server{ID: "bot-00000001", AccountID: "acme", OwnerID: "cust-42", Name: "Bot", Description: "d",
		CustomInstructions: "Be brief.", Mode: patchbay.ModeDirect, IsPublic: true,
		Restrictions: patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Allowlist, AllowedIDs: &allowed}},
		RateLimit:    500, Cache: true, AllowUnverifiedUserIDs: true, TokenHash: f.TokenHash, TokenSealed: []byte{1, 2, 3},
		TokenExpiresAt: exp, Version: 7, CreatedAt: t0, UpdatedAt: t0}
	wantCred := &patchbay.Credential{ID: "cred_00000000000000000001", AccountID: "acme", UserID: "cust-42", ConnectorID: "github",
		ConnectorSource: patchbay.SourceBuiltin, Name: "GitHub", AuthType: patchbay.AuthOAuth2, Status: patchbay.CredentialActive,
		Config: map[string]string{"org": "acme"}, Scopes: []string{"repo"}, BoundServerID: "bot-00000001", ExpiresAt: &exp,
		CreatedAt: t0, UpdatedAt: t0, Sealed: []byte{1, 4, 5}, Revision: 4}

	tests := []struct {
		name string
		want any
		get  func() (any, error)
	}{
		{name: "Account", want: wantAccount, get: func() (any, error) { return s.FindAccount(ctx, "acme") }},
		{name: "APIKey", want: wantKey, get: func() (any, error) { return s.FindAPIKeyByHash(ctx, f.KeyHash) }},
		{name: "Server", want: wantServer, get: func() (any, error) { return s.FindServer(ctx, "bot-00000001") }},
		{name: "Credential", want: wantCred, get: func() (any, error) { return s.FindCredential(ctx, "acme", "cust-42", wantCred.ID) }},
		{name: "NewTables", want: int64(1), get: func() (any, error) {
			c := &patchbay.Connector{ID: "crm", Name: "CRM", AccountID: "acme", Origin: "definition", CreatedAt: t0, UpdatedAt: t0}
			if err := s.CreateConnector(ctx, c, nil); err != nil {
				return nil, err
			}
			return s.ConnectorsVersion(ctx, "acme")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("after migrating (-want +got):\n%s", diff)
			}
		})
	}
}
