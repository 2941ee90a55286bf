package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patchbay-mcp/patchbay/internal/testenv"
	"github.com/patchbay-mcp/patchbay/storetest"
)

// TestMigrateFromFirstRelease writes the data of a database that stopped at
// the first migration (an account, a key, a server, a credential) in that
// schema, then opens it with this release and checks that every row reads
// back unchanged and the new tables work.
func TestMigrateFromFirstRelease(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool, 1); err != nil {
		t.Fatal(err)
	}
	var connectorsTable *string
	if err := pool.QueryRow(ctx, `SELECT to_regclass('connectors')::text`).Scan(&connectorsTable); err != nil || connectorsTable != nil {
		t.Fatalf("after migration 1 the connectors table exists (%v, %v)", connectorsTable, err)
	}

	fr := storetest.NewFirstRelease()
	t0, exp, used := fr.T0, fr.Expires, fr.LastUsed

	// The first release's rows, in the first release's schema.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, jwt_previous, jwt_previous_valid_until,
			version, created_at, updated_at) VALUES ('acme', 'Acme', '["https://app.example.com/cb"]', '{"keys": []}', 2, 1, $1, 3, $2, $3)`,
			[]any{t0.Add(24 * time.Hour).Unix(), t0.Unix(), t0.Add(time.Minute).Unix()}},
		{`INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES ('acme', 1, '\x0100000001', $1), ('acme', 2, '\x0100000002', $1)`,
			[]any{t0.Unix()}},
		{`INSERT INTO api_keys (id, account_id, user_id, name, role, prefix, hash, require_signature, signing_secret, created_at, expires_at,
			last_used_at) VALUES ('key_admin1', 'acme', 'admin', 'Bootstrap', 'admin', 'pb_AbCd', $1, true, '\x0109', $2, NULL, $3)`,
			[]any{fr.KeyHash, t0.Unix(), used.Unix()}},
		{`INSERT INTO servers (id, account_id, owner_id, name, description, custom_instructions, mode, is_public, restrictions, rate_limit,
			cache, allow_unverified, allow_secrets, token_hash, token_sealed, token_expires_at, version, created_at, updated_at)
			VALUES ('bot-00000001', 'acme', 'cust-42', 'Bot', 'd', 'Be brief.', 'direct', true,
			'{"connectors": {"mode": "allowlist", "allowedIds": ["slack"]}}', 500, true, true, false, $1, '\x010203', $2, 7, $3, $3)`,
			[]any{fr.TokenHash, exp.Unix(), t0.Unix()}},
		{`INSERT INTO credentials (id, account_id, user_id, connector_id, connector_source, name, auth_type, status, config, scopes,
			bound_server_id, expires_at, last_used_at, created_at, updated_at, sealed, revision)
			VALUES ('cred_00000000000000000001', 'acme', 'cust-42', 'github', 'builtin', 'GitHub', 'oauth2', 'active', '{"org": "acme"}',
			'["repo"]', 'bot-00000001', $1, NULL, $2, $2, '\x010405', 4)`,
			[]any{exp.Unix(), t0.Unix()}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%v\n%s", err, q.sql)
		}
	}

	db, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int64
	if err := pool.QueryRow(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != 2 {
		t.Fatalf("schema version %d (%v) after Open, want 2", version, err)
	}

	fr.Check(t, db)
}
