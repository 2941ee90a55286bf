package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/vault"
)

// testRotation seals real records of every kind through the vault, rotates
// the data key and checks that the store let the vault rewrap each one.
func testRotation(t *testing.T, s Store) {
	ctx := context.Background()
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	v, err := vault.New(master, s, nil)
	must(t, err)
	seal := func(account, record, plain string) []byte {
		ct, err := v.Seal(ctx, account, record, []byte(plain))
		must(t, err)
		return ct
	}
	a := &patchbay.Account{ID: "acme", Name: "Acme", CreatedAt: t0, UpdatedAt: t0,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: seal("acme", patchbay.JWTSecretRecordID(1), "jwt-1"), CreatedAt: t0}}
	must(t, s.CreateAccount(ctx, a))
	_, err = s.RotateJWTSecret(ctx, "acme", patchbay.JWTSecret{Version: 2, Sealed: seal("acme", patchbay.JWTSecretRecordID(2), "jwt-2"), CreatedAt: t0}, t0.Add(time.Hour))
	must(t, err)
	want := map[string]string{"jwt:hs256-1": "jwt-1", "jwt:hs256-2": "jwt-2"}
	for i := range 3 {
		srv := NewServer(fmt.Sprintf("bot-0000000%d", i), "acme", "u1", fmt.Sprint("Bot ", i), t0)
		srv.TokenSealed = seal("acme", srv.ID, "token-"+srv.ID)
		must(t, s.CreateServer(ctx, srv))
		want[srv.ID] = "token-" + srv.ID
		c := NewCredential(fmt.Sprintf("cred_0000000000000000000%d", i), "acme", "u1", "slack", t0)
		c.Sealed = seal("acme", c.ID, "secret-"+c.ID)
		must(t, s.CreateCredential(ctx, c))
		want[c.ID] = "secret-" + c.ID
	}
	k := newKey("key_signing1", "acme", "admin", patchbay.RoleAdmin, t0)
	k.RequireSignature = true
	k.SigningSecretSealed = seal("acme", k.ID, "pbs_signing")
	must(t, s.CreateAPIKey(ctx, k))
	want[k.ID] = "pbs_signing"

	res, err := v.Rotate(ctx, "acme", s)
	must(t, err)
	if len(res.Accounts) != 1 {
		t.Fatalf("rotation result %+v", res)
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		recs, next, err := s.SealedRecords(ctx, "acme", cursor, 2)
		must(t, err)
		for _, r := range recs {
			ver, ok := vault.RecordVersion(r.Ciphertext)
			if !ok || ver != 2 {
				t.Fatalf("record %s/%s on key version %d after rotation", r.Kind, r.RecordID, ver)
			}
			plain, err := v.Open(ctx, "acme", r.RecordID, r.Ciphertext)
			must(t, err)
			if !bytes.Equal(plain, []byte(want[r.RecordID])) {
				t.Fatalf("record %s opens to %q, want %q", r.RecordID, plain, want[r.RecordID])
			}
			seen[r.RecordID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != len(want) {
		t.Fatalf("walked %d sealed records, want %d: %v", len(seen), len(want), seen)
	}
	// A stale compare-and-swap does not overwrite.
	recs, _, err := s.SealedRecords(ctx, "acme", "", 1)
	must(t, err)
	stale := recs[0]
	stale.Ciphertext = []byte("not what is stored")
	ok, err := s.ReplaceSealed(ctx, stale, []byte("x"))
	must(t, err)
	if ok {
		t.Fatal("ReplaceSealed swapped a stale ciphertext")
	}
}
