package vault_test

import (
	"testing"

	"github.com/patchbay-mcp/patchbay/vault"
	"github.com/patchbay-mcp/patchbay/vault/vaulttest"
)

func TestKeyStoreContract(t *testing.T) {
	vaulttest.TestKeyStore(t, func(*testing.T) vault.KeyStore { return newMemKeys() })
}
