package vault_test

import (
	"context"
	"testing"

	"github.com/patchbay-mcp/patchbay/vault"
)

// A typical sealed credential: an OAuth token set as JSON.
const benchPlaintext = `{"access_token":"ya29.a0AfH6SMBx3ZlJgGqLz-0123456789abcdefghijklmnopqrstuvwxyz","refresh_token":"1//0gLmNoPqRsTuVwXyZ-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH","token_type":"Bearer"}`

func warmVault(b *testing.B) *vault.Vault {
	b.Helper()
	v := newVault(b, keyN(1), newMemKeys(), nil)
	seal(b, v, "acct_01J9Z", "cred_4f8a", "warm")
	return v
}

func BenchmarkSeal(b *testing.B) {
	v := warmVault(b)
	ctx := context.Background()
	pt := []byte(benchPlaintext)
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := v.Seal(ctx, "acct_01J9Z", "cred_4f8a", pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	v := warmVault(b)
	ctx := context.Background()
	ct := seal(b, v, "acct_01J9Z", "cred_4f8a", benchPlaintext)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPlaintext)))
	for b.Loop() {
		if _, err := v.Open(ctx, "acct_01J9Z", "cred_4f8a", ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenParallel(b *testing.B) {
	v := warmVault(b)
	ct := seal(b, v, "acct_01J9Z", "cred_4f8a", benchPlaintext)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := v.Open(ctx, "acct_01J9Z", "cred_4f8a", ct); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSealParallel(b *testing.B) {
	v := warmVault(b)
	pt := []byte(benchPlaintext)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := v.Seal(ctx, "acct_01J9Z", "cred_4f8a", pt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
