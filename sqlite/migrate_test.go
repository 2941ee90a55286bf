package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/patchbay-mcp/patchbay/storetest"
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

	fr := storetest.NewFirstRelease()
	t0, exp, used := fr.T0, fr.Expires, fr.LastUsed

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
			[]any{fr.KeyHash, t0.Unix(), used.Unix()}},
		{`INSERT INTO servers (id, account_id, owner_id, name, description, custom_instructions, mode, is_public, restrictions, rate_limit,
			cache, allow_unverified, allow_secrets, token_hash, token_sealed, token_expires_at, version, created_at, updated_at)
			VALUES ('bot-00000001', 'acme', 'cust-42', 'Bot', 'd', 'Be brief.', 'direct', 1,
			'{"connectors":{"mode":"allowlist","allowedIds":["slack"]}}', 500, 1, 1, 0, ?, x'010203', ?, 7, ?, ?)`,
			[]any{fr.TokenHash, exp.Unix(), t0.Unix(), t0.Unix()}},
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

	fr.Check(t, db)
}
