package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/postgres"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/vault"
)

// store is what the program needs of a database: every domain service,
// the vault's key and record stores, nonces and housekeeping. Both
// *sqlite.DB and *postgres.DB implement it.
type store interface {
	patchbay.AccountService
	patchbay.APIKeyService
	patchbay.ServerService
	patchbay.CredentialService
	patchbay.AuditService
	patchbay.ConnectorService
	patchbay.OAuthAppService
	patchbay.FlowService
	vault.KeyStore
	vault.RecordStore
	UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error)
	Ping(ctx context.Context) error
	Close() error
	HasEncryptedData(ctx context.Context) (bool, error)
	IsEmpty(ctx context.Context) (bool, error)
	PruneNonces(ctx context.Context) error
	PruneFlows(ctx context.Context, before time.Time) (int, error)
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// openStore opens the configured database and applies migrations.
func openStore(ctx context.Context, cfg *Config) (store, error) {
	kind, target, err := cfg.Database()
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if kind == "postgres" {
		return postgres.Open(ctx, target, nil)
	}
	return sqlite.Open(ctx, target, nil)
}

// openVault loads the master key (§14) and checks it against the stored data
// keys; any key problem is a *vault.KeyError (exit 3).
func openVault(ctx context.Context, cfg *Config, db store, getenv func(string) string, warn func(string)) (*vault.Vault, error) {
	has, err := db.HasEncryptedData(ctx)
	if err != nil {
		return nil, err
	}
	master, previous, generated, warnings, err := vault.LoadMaster(getenv, cfg.DataDir, has)
	for _, w := range warnings {
		warn(w)
	}
	if err != nil {
		return nil, err
	}
	if generated {
		warn("generated a new master key in " + cfg.DataDir + "/master.key; back it up: without it the data cannot be decrypted")
	}
	v, err := vault.New(master, db, &vault.Options{Previous: previous})
	if err != nil {
		return nil, err
	}
	if err := v.Check(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// createAccount creates an account with its first JWT secret and an admin
// key for adminUser. key is used when non-empty (bootstrap), else drawn.
func createAccount(ctx context.Context, db store, v *vault.Vault, id, name, adminUser, key string) (string, error) {
	if !patchbay.ValidAccountID(id) {
		return "", usageErr("account ID %q must match ^[a-z0-9][a-z0-9-]{1,62}$", id)
	}
	if !patchbay.ValidUserID(adminUser) {
		return "", usageErr("admin user %q is not a valid user ID", adminUser)
	}
	now := time.Now().UTC().Truncate(time.Second)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	sealed, err := v.Seal(ctx, id, patchbay.JWTSecretRecordID(1), secret)
	if err != nil {
		return "", err
	}
	a := &patchbay.Account{ID: id, Name: name, CreatedAt: now, UpdatedAt: now,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: sealed, CreatedAt: now}}
	if err := db.CreateAccount(ctx, a); err != nil {
		return "", err
	}
	return createKey(ctx, db, v, id, adminUser, patchbay.RoleAdmin, "admin", key)
}

// createKey stores an API key and returns its plaintext.
func createKey(ctx context.Context, db store, _ *vault.Vault, accountID, user, role, name, key string) (string, error) {
	if key == "" {
		key = ids.APIKey()
	}
	h := authn.HashAPIKey(key)
	k := &patchbay.APIKey{ID: ids.KeyID(), AccountID: accountID, UserID: user, Name: name, Role: role, Prefix: key[:7], Hash: h[:],
		CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		return "", err
	}
	return key, nil
}

// bootstrap creates the default account and its admin key on an empty
// database (§18.2).
func bootstrap(ctx context.Context, db store, v *vault.Vault, getenv func(string) string, say func(string)) error {
	empty, err := db.IsEmpty(ctx)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(getenv("PATCHBAY_BOOTSTRAP_API_KEY"))
	if !empty {
		if key != "" {
			say("patchbay: warning: PATCHBAY_BOOTSTRAP_API_KEY is ignored: the database already has accounts")
		}
		return nil
	}
	if key != "" && !authn.ValidAPIKeyFormat(key, true) {
		return usageErr("PATCHBAY_BOOTSTRAP_API_KEY must be pb_ followed by at least 32 base62 characters")
	}
	got, err := createAccount(ctx, db, v, "default", "Default account", "admin", key)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if key == "" {
		say("patchbay: bootstrap admin API key (shown once): " + got)
	}
	return nil
}
