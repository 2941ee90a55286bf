package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/patchbay-mcp/patchbay/vault"
)

// FuzzOpen feeds arbitrary bytes to Open: it must never panic and never
// succeed, except on the exact records the seeds sealed.
func FuzzOpen(f *testing.F) {
	keys := newMemKeys()
	v := newVault(f, keyN(1), keys, nil)
	valid := seal(f, v, "acct", "cred_1", "secret")
	seal(f, v, "other", "cred_1", "secret")
	if _, err := v.Rotate(context.Background(), "acct", nil); err != nil {
		f.Fatal(err)
	}
	valid2 := seal(f, v, "acct", "cred_1", "secret")

	f.Add("acct", "cred_1", valid)
	f.Add("acct", "cred_1", valid2)
	f.Add("other", "cred_1", valid)
	f.Add("acct", "cred_2", valid)
	f.Add("acct", "cred_1", valid[:vault.Overhead])
	f.Add("acct", "cred_1", []byte{})
	f.Add("acct", "cred_1", []byte{1, 0, 0, 0, 1})
	f.Add("acct", "cred_1", append([]byte{1, 0xff, 0xff, 0xff, 0xff}, make([]byte, 40)...))
	f.Add("", "", []byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, account, record string, ct []byte) {
		pt, err := v.Open(context.Background(), account, record, ct)
		if err == nil {
			if account == "acct" && record == "cred_1" && (bytes.Equal(ct, valid) || bytes.Equal(ct, valid2)) && string(pt) == "secret" {
				return
			}
			t.Fatalf("Open(%q, %q, %x) succeeded with %q", account, record, ct, pt)
		}
		if !errors.Is(err, vault.ErrDecrypt) || pt != nil {
			t.Fatalf("Open = %q, %v; want nil, ErrDecrypt", pt, err)
		}
	})
}
