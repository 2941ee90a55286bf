package authn_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/vault"
)

// warmAuth is an Authenticator on a real store and vault with one account,
// one API key and the account's JWT secret.
func warmAuth(b *testing.B) (a *authn.Authenticator, apiKey, jwt string) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "patchbay.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	v, err := vault.New(bytes.Repeat([]byte{3}, 32), db, nil)
	if err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	sealed, err := v.Seal(ctx, "acme", patchbay.JWTSecretRecordID(1), secret)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := db.CreateAccount(ctx, &patchbay.Account{ID: "acme", Name: "Acme", CreatedAt: now, UpdatedAt: now,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: sealed, CreatedAt: now}}); err != nil {
		b.Fatal(err)
	}
	apiKey = ids.APIKey()
	h := authn.HashAPIKey(apiKey)
	if err := db.CreateAPIKey(ctx, &patchbay.APIKey{ID: ids.KeyID(), AccountID: "acme", UserID: "svc", Name: "svc", Role: patchbay.RoleUser,
		Prefix: apiKey[:7], Hash: h[:], CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	jwt, _, err = authn.Mint(authn.HSKey{Version: 1, Secret: secret}, "acme", "cust-42", now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return authn.New(db, v, db, &authn.Options{CacheTTL: time.Hour}), apiKey, jwt
}

func noBody() ([]byte, error) { return nil, nil }

// BenchmarkAuthenticateAPIKey is a warm API-key authentication (the key
// cached after the first request).
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	a, key, _ := warmAuth(b)
	r, _ := http.NewRequest(http.MethodPost, "http://patchbay.test/mcp/x", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	benchAuth(b, a, r)
}

// BenchmarkAuthenticateJWT is a warm user-JWT authentication (JWT alone:
// iss selects the account, whose keys are cached).
func BenchmarkAuthenticateJWT(b *testing.B) {
	a, _, jwt := warmAuth(b)
	r, _ := http.NewRequest(http.MethodPost, "http://patchbay.test/mcp/x", nil)
	r.Header.Set("x-alloy-user-token", jwt)
	benchAuth(b, a, r)
}

func benchAuth(b *testing.B, a *authn.Authenticator, r *http.Request) {
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, r, noBody); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, r, noBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckServerToken is the token-URL check on a cached server.
func BenchmarkCheckServerToken(b *testing.B) {
	token := ids.ServerToken()
	sum := sha256.Sum256([]byte(token))
	srv := &patchbay.Server{ID: "bot-1", TokenHash: sum[:], TokenExpiresAt: time.Now().Add(time.Hour)}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !authn.CheckServerToken(srv, token, now) {
			b.Fatal("token refused")
		}
	}
}
