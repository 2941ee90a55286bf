package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/storetest"
	"github.com/patchbay-mcp/patchbay/vault"
	"github.com/patchbay-mcp/patchbay/vault/vaulttest"
)

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "patchbay.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) })
}

func TestKeyStore(t *testing.T) {
	vaulttest.TestKeyStore(t, func(t *testing.T) vault.KeyStore { return open(t) })
}
