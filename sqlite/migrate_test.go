package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pressly/goose/v3"

	"github.com/patchbay-mcp/patchbay"
)

// TestMigrateFromFirstRelease writes the data of a database that stopped at
// the first migration (an account, a key, a server, a credential) in that
// schema, then opens it with this release and checks that every row reads
// back unchanged and the new tables work.
func TestMigrateFromFirstRelease(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "patchbay.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'connectors'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after migration 1 the connectors table exists (%d, %v)", n, err)
	}

	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	h := func(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }
	exp, used := t0.Add(90*24*time.Hour), t0.Add(time.Hour)
	allowed := []string{"slack"}
	wantAccount := &patchbay.Account{ID: "acme", Name: "Acme", AllowedRedirectURIs: []string{"https://app.example.com/cb"},
		JWTPublicKeys: json.RawMessage(`{"keys": []}`), JWTCurrent: patchbay.JWTSecret{Version: 2, Sealed: []byte{1, 0, 0, 0, 2}, CreatedAt: t0},
		JWTPrevious: &patchbay.JWTSecret{Version: 1, Sealed: []byte{1, 0, 0, 0, 1}, CreatedAt: t0}, JWTPreviousValidUntil: t0.Add(24 * time.Hour),
		Version: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
	wantKey := &patchbay.APIKey{ID: "key_admin1", AccountID: "acme", UserID: "admin", Name: "Bootstrap", Role: patchbay.RoleAdmin,
		Prefix: "pb_AbCd", Hash: h("pb_key"), RequireSignature: true, SigningSecretSealed: []byte{1, 9}, CreatedAt: t0, LastUsedAt: &used}
	wantServer := &patchbay.Server{ID: "bot-00000001", AccountID: "acme", OwnerID: "cust-42", Name: "Bot", Description: "d",
		CustomInstructions: "Be brief.", Mode: patchbay.ModeDirect, IsPublic: true,
		Restrictions: patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Allowlist, AllowedIDs: &allowed}},
		RateLimit:    500, Cache: true, AllowUnverifiedUserIDs: true, TokenHash: h("tok"), TokenSealed: []byte{1, 2, 3},
		TokenExpiresAt: exp, Version: 7, CreatedAt: t0, UpdatedAt: t0}
	wantCred := &patchbay.Credential{ID: "cred_00000000000000000001", AccountID: "acme", UserID: "cust-42", ConnectorID: "github",
		ConnectorSource: patchbay.SourceBuiltin, Name: "GitHub", AuthType: patchbay.AuthOAuth2, Status: patchbay.CredentialActive,
		Config: map[string]string{"org": "acme"}, Scopes: []string{"repo"}, BoundServerID: "bot-00000001", ExpiresAt: &exp,
		CreatedAt: t0, UpdatedAt: t0, Sealed: []byte{1, 4, 5}, Revision: 4}

	// The first release's rows, in the first release's schema.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, jwt_previous, jwt_previous_valid_until,
			version, created_at, updated_at) VALUES ('acme', 'Acme', '["https://app.example.com/cb"]', '{"keys": []}', 2, 1, ?, 3, ?, ?)`,
			[]any{t0.Add(24 * time.Hour).Unix(), t0.Unix(), t0.Add(time.Minute).Unix()}},
		{`INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES ('acme', 1, x'0100000001', ?), ('acme', 2, x'0100000002', ?)`,
			[]any{t0.Unix(), t0.Unix()}},
		{`INSERT INTO api_keys (id, account_id, user_id, name, role, prefix, hash, require_signature, signing_secret, created_at, expires_at,
			last_used_at) VALUES ('key_admin1', 'acme', 'admin', 'Bootstrap', 'admin', 'pb_AbCd', ?, 1, x'0109', ?, NULL, ?)`,
			[]any{h("pb_key"), t0.Unix(), used.Unix()}},
		{`INSERT INTO servers (id, account_id, owner_id, name, description, custom_instructions, mode, is_public, restrictions, rate_limit,
			cache, allow_unverified, allow_secrets, token_hash, token_sealed, token_expires_at, version, created_at, updated_at)
			VALUES ('bot-00000001', 'acme', 'cust-42', 'Bot', 'd', 'Be brief.', 'direct', 1,
			'{"connectors":{"mode":"allowlist","allowedIds":["slack"]}}', 500, 1, 1, 0, ?, x'010203', ?, 7, ?, ?)`,
			[]any{h("tok"), exp.Unix(), t0.Unix(), t0.Unix()}},
		{`INSERT INTO credentials (id, account_id, user_id, connector_id, connector_source, name, auth_type, status, config, scopes,
			bound_server_id, expires_at, last_used_at, created_at, updated_at, sealed, revision)
			VALUES ('cred_00000000000000000001', 'acme', 'cust-42', 'github', 'builtin', 'GitHub', 'oauth2', 'active', '{"org":"acme"}',
			'["repo"]', 'bot-00000001', ?, NULL, ?, ?, x'010405', 4)`,
			[]any{exp.Unix(), t0.Unix(), t0.Unix()}},
	} {
		if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%v\n%s", err, q.sql)
		}
	}

	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	latest := int64(len(files)) // migrations are numbered 1, 2, ... without gaps
	var version int64
	if err := raw.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != latest {
		t.Fatalf("schema version %d (%v) after Open, want %d", version, err, latest)
	}

	tests := []struct {
		name string
		want any
		get  func() (any, error)
	}{
		{name: "Account", want: wantAccount, get: func() (any, error) { return db.FindAccount(ctx, "acme") }},
		{name: "APIKey", want: wantKey, get: func() (any, error) { return db.FindAPIKeyByHash(ctx, h("pb_key")) }},
		{name: "Server", want: wantServer, get: func() (any, error) { return db.FindServer(ctx, "bot-00000001") }},
		{name: "Credential", want: wantCred, get: func() (any, error) { return db.FindCredential(ctx, "acme", "cust-42", wantCred.ID) }},
		{name: "NewTables", want: int64(1), get: func() (any, error) {
			c := &patchbay.Connector{ID: "crm", Name: "CRM", AccountID: "acme", Origin: "definition", CreatedAt: t0, UpdatedAt: t0}
			if err := db.CreateConnector(ctx, c, nil); err != nil {
				return nil, err
			}
			return db.ConnectorsVersion(ctx, "acme")
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
