package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/vault"
)

var now = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func newVault(t testing.TB, master []byte, keys vault.KeyStore, opts *vault.Options) *vault.Vault {
	t.Helper()
	if opts == nil {
		opts = &vault.Options{}
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	v, err := vault.New(master, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func seal(t testing.TB, v *vault.Vault, account, record, pt string) []byte {
	t.Helper()
	ct, err := v.Seal(context.Background(), account, record, []byte(pt))
	if err != nil {
		t.Fatalf("Seal(%s, %s): %v", account, record, err)
	}
	return ct
}

func mustOpen(t testing.TB, v *vault.Vault, account, record string, ct []byte) string {
	t.Helper()
	pt, err := v.Open(context.Background(), account, record, ct)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", account, record, err)
	}
	return string(pt)
}

func version(t testing.TB, ct []byte) uint32 {
	t.Helper()
	v, ok := vault.RecordVersion(ct)
	if !ok {
		t.Fatalf("malformed record %x", ct)
	}
	return v
}

// keyStates summarises the store: "v<version>:<status>" per key of an account.
func keyStates(t testing.TB, keys vault.KeyStore, account string) []string {
	t.Helper()
	wks, err := keys.DataKeys(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, wk := range wks {
		out = append(out, fmt.Sprintf("v%d:%s", wk.Version, wk.Status))
	}
	return out
}

func TestSealOpenRoundTrip(t *testing.T) {
	v := newVault(t, keyN(1), newMemKeys(), nil)
	tests := []struct {
		name string
		pt   []byte
	}{
		{name: "Empty", pt: []byte{}},
		{name: "Short", pt: []byte(`{"token":"xoxb-1"}`)},
		{name: "Binary", pt: []byte{0, 1, 2, 0xff, 0}},
		{name: "Large", pt: bytes.Repeat([]byte("abc"), 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ct, err := v.Seal(ctx, "acct1", "cred_"+tt.name, tt.pt)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != len(tt.pt)+vault.Overhead || ct[0] != 0x01 || version(t, ct) != 1 {
				t.Fatalf("record header %x, length %d: want format 1, version 1, length %d", ct[:5], len(ct), len(tt.pt)+vault.Overhead)
			}
			if len(tt.pt) > 8 && bytes.Contains(ct, tt.pt[:8]) {
				t.Fatal("ciphertext contains plaintext")
			}
			again, _ := v.Seal(ctx, "acct1", "cred_"+tt.name, tt.pt)
			if bytes.Equal(ct, again) {
				t.Fatal("two seals of the same plaintext are equal: nonce reused")
			}
			got, err := v.Open(ctx, "acct1", "cred_"+tt.name, ct)
			if err != nil || !bytes.Equal(got, tt.pt) {
				t.Fatalf("Open = %d bytes, %v; want the plaintext", len(got), err)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	keys := newMemKeys()
	v := newVault(t, keyN(1), keys, nil)
	ct := seal(t, v, "acct1", "cred_1", "secret value")
	seal(t, v, "acct2", "cred_1", "other account")
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	withVersion := func(ver byte) []byte {
		c := bytes.Clone(ct)
		c[4] = ver
		return c
	}
	tests := []struct {
		name    string
		account string
		record  string
		ct      []byte
	}{
		{name: "OtherRecord", account: "acct1", record: "cred_2", ct: ct},
		{name: "OtherAccount", account: "acct2", record: "cred_1", ct: ct},
		{name: "AccountWithoutKeys", account: "acct3", record: "cred_1", ct: ct},
		{name: "RecordIDPrefix", account: "acct1", record: "cred_", ct: ct},
		{name: "EmptyAccount", account: "", record: "cred_1", ct: ct},
		{name: "FormatByte", account: "acct1", record: "cred_1", ct: flip(0)},
		{name: "VersionZero", account: "acct1", record: "cred_1", ct: withVersion(0)},
		{name: "UnknownVersion", account: "acct1", record: "cred_1", ct: withVersion(9)},
		{name: "Nonce", account: "acct1", record: "cred_1", ct: flip(7)},
		{name: "Ciphertext", account: "acct1", record: "cred_1", ct: flip(20)},
		{name: "Tag", account: "acct1", record: "cred_1", ct: flip(len(ct) - 1)},
		{name: "Truncated", account: "acct1", record: "cred_1", ct: ct[:len(ct)-1]},
		{name: "Extended", account: "acct1", record: "cred_1", ct: append(bytes.Clone(ct), 0)},
		{name: "HeaderOnly", account: "acct1", record: "cred_1", ct: ct[:vault.Overhead-1]},
		{name: "Nil", account: "acct1", record: "cred_1", ct: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := v.Open(context.Background(), tt.account, tt.record, tt.ct)
			if !errors.Is(err, vault.ErrDecrypt) || pt != nil {
				t.Fatalf("Open = %q, %v; want nil, ErrDecrypt", pt, err)
			}
		})
	}
	if got := mustOpen(t, v, "acct1", "cred_1", ct); got != "secret value" {
		t.Fatalf("original record opens as %q", got)
	}
}

func TestWarmPathSkipsStore(t *testing.T) {
	keys := newMemKeys()
	v := newVault(t, keyN(1), keys, nil)
	ct := seal(t, v, "acct1", "r", "warm")
	before := keys.calls.Load()
	for range 100 {
		seal(t, v, "acct1", "r", "x")
		mustOpen(t, v, "acct1", "r", ct)
	}
	if n := keys.calls.Load() - before; n != 0 {
		t.Fatalf("warm Seal/Open made %d store calls, want 0", n)
	}
}

func TestCheck(t *testing.T) {
	cur, old, other := keyN(1), keyN(2), keyN(3)
	tests := []struct {
		name     string
		setup    func(t *testing.T, keys *memKeys) // seals with whatever master it needs
		master   []byte
		previous []byte
		reason   string // "" = passes
	}{
		{name: "NoKeys", setup: func(*testing.T, *memKeys) {}, master: cur},
		{name: "RightMaster", setup: sealWith(cur, "a", "b"), master: cur},
		{name: "WrongMaster", setup: sealWith(old, "a", "b"), master: cur, reason: vault.ReasonMismatch},
		{name: "PreviousMatches", setup: sealWith(old, "a"), master: cur, previous: old},
		{name: "CurrentAndPreviousMixed", setup: func(t *testing.T, k *memKeys) {
			sealWith(old, "a")(t, k)
			sealWith(cur, "b")(t, k)
		}, master: cur, previous: old},
		{name: "SomeKeysUnderUnknownMaster", setup: func(t *testing.T, k *memKeys) {
			sealWith(cur, "a")(t, k)
			sealWith(other, "b")(t, k)
		}, master: cur, reason: vault.ReasonMismatch},
		{name: "TamperedWrappedKey", setup: func(t *testing.T, k *memKeys) {
			sealWith(cur, "a", "b")(t, k)
			k.tamper("b", 1, func(wk *vault.WrappedKey) { wk.Wrapped[20] ^= 1 })
		}, master: cur, reason: vault.ReasonCheckFailed},
		{name: "KeyMovedToOtherAccount", setup: func(t *testing.T, k *memKeys) {
			sealWith(cur, "a", "b")(t, k)
			var wa []byte
			k.tamper("a", 1, func(wk *vault.WrappedKey) { wa = wk.Wrapped })
			k.tamper("b", 1, func(wk *vault.WrappedKey) { wk.Wrapped = wa })
		}, master: cur, reason: vault.ReasonCheckFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := newMemKeys()
			tt.setup(t, keys)
			v := newVault(t, tt.master, keys, &vault.Options{Previous: tt.previous})
			err := v.Check(context.Background())
			var got string
			var ke *vault.KeyError
			switch {
			case errors.As(err, &ke):
				got = ke.Reason
			case err != nil:
				t.Fatalf("Check = %v, not a *KeyError", err)
			}
			if diff := cmp.Diff(tt.reason, got); diff != "" {
				t.Fatalf("Check reason (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil {
				for _, k := range [][]byte{cur, old, other} {
					if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k)[:10]) ||
						strings.Contains(err.Error(), fmt.Sprintf("%x", k[:6])) {
						t.Fatalf("Check error %q contains key material", err)
					}
				}
			}
		})
	}
}

// sealWith seals one record per account with a vault on master, creating the
// accounts' data keys under it.
func sealWith(master []byte, accounts ...string) func(*testing.T, *memKeys) {
	return func(t *testing.T, keys *memKeys) {
		v := newVault(t, master, keys, nil)
		for _, a := range accounts {
			seal(t, v, a, "r", "x")
		}
	}
}

func TestMasterKeyChange(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := keyN(1), keyN(2)
	keys := newMemKeys()
	v := newVault(t, oldKey, keys, nil)
	// A second instance still on the old master, as during a rolling restart.
	straggler := newVault(t, oldKey, keys, nil)
	recs := map[string][]byte{"a": seal(t, v, "a", "r", "a-secret"), "b": seal(t, v, "b", "r", "b-secret")}

	n, err := v.RotateMaster(ctx, newKey)
	if err != nil || n != 2 {
		t.Fatalf("RotateMaster = %d, %v; want 2 keys rewrapped", n, err)
	}
	if fp := v.MasterFingerprint(); fp != vault.Fingerprint(newKey) {
		t.Fatalf("vault fingerprint after RotateMaster = %s, want the new one", fp)
	}
	var ke *vault.KeyError
	if err := newVault(t, oldKey, keys, nil).Check(ctx); !errors.As(err, &ke) || ke.Reason != vault.ReasonMismatch {
		t.Fatalf("Check with the old master = %v, want KeyError %q", err, vault.ReasonMismatch)
	}
	// The rotating vault keeps working and wraps new accounts under the new master.
	recs["c"] = seal(t, v, "c", "r", "c-secret")
	// The straggler creates an account under the old master after the rewrap.
	recs["d"] = seal(t, straggler, "d", "r", "d-secret")

	during := newVault(t, newKey, keys, &vault.Options{Previous: oldKey})
	if err := during.Check(ctx); err != nil {
		t.Fatalf("Check with new master and old as previous: %v", err)
	}
	for a, ct := range recs {
		if got := mustOpen(t, during, a, "r", ct); got != a+"-secret" {
			t.Fatalf("account %s opens as %q", a, got)
		}
	}
	if err := newVault(t, newKey, keys, nil).Check(ctx); !errors.As(err, &ke) || ke.Reason != vault.ReasonMismatch {
		t.Fatalf("Check with only the new master while d is under the old = %v, want KeyError", err)
	}
	// Running the change again finishes it.
	if n, err := during.RotateMaster(ctx, newKey); err != nil || n != 1 {
		t.Fatalf("second RotateMaster = %d, %v; want 1 (the straggler's key)", n, err)
	}
	after := newVault(t, newKey, keys, nil)
	if err := after.Check(ctx); err != nil {
		t.Fatalf("Check with the new master after the change: %v", err)
	}
	for a, ct := range recs {
		mustOpen(t, after, a, "r", ct)
	}
	if _, err := after.RotateMaster(ctx, newKey[:31]); err == nil {
		t.Fatal("RotateMaster with a 31-byte key succeeded")
	}
}

func TestConcurrentFirstSealCreatesOneVersion(t *testing.T) {
	keys := newMemKeys()
	vaults := make([]*vault.Vault, 5) // five instances on one database
	for i := range vaults {
		vaults[i] = newVault(t, keyN(1), keys, nil)
	}
	const n = 50
	cts := make([][]byte, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ct, err := vaults[i%len(vaults)].Seal(context.Background(), "fresh", fmt.Sprint("r", i), []byte("s"))
			if err != nil {
				t.Error(err)
			}
			cts[i] = ct
		})
	}
	close(start)
	wg.Wait()
	if diff := cmp.Diff([]string{"v1:active"}, keyStates(t, keys, "fresh")); diff != "" {
		t.Fatalf("keys after 50 concurrent first seals (-want +got):\n%s", diff)
	}
	for i, ct := range cts {
		for _, v := range vaults {
			mustOpen(t, v, "fresh", fmt.Sprint("r", i), ct)
		}
	}
}

func TestEncryptionBudget(t *testing.T) {
	keys := newMemKeys()
	v := newVault(t, keyN(1), keys, &vault.Options{ReserveBlock: 2, MaxEncryptions: 5})
	var versions []uint32
	var cts [][]byte
	for i := range 9 {
		ct := seal(t, v, "a", fmt.Sprint(i), "x")
		versions = append(versions, version(t, ct))
		cts = append(cts, ct)
	}
	if diff := cmp.Diff([]uint32{1, 1, 1, 1, 2, 2, 2, 2, 3}, versions); diff != "" {
		t.Fatalf("versions used (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1:retired", "v2:retired", "v3:active"}, keyStates(t, keys, "a")); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	for i, ct := range cts {
		mustOpen(t, v, "a", fmt.Sprint(i), ct)
	}
}

func TestEncryptionBudgetConcurrent(t *testing.T) {
	const maxEnc = 40
	keys := newMemKeys()
	opts := &vault.Options{ReserveBlock: 3, MaxEncryptions: maxEnc}
	vaults := []*vault.Vault{newVault(t, keyN(1), keys, opts), newVault(t, keyN(1), keys, opts)}
	const workers, each = 8, 50
	cts := make([][]byte, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := w*each + i
				ct, err := vaults[w%2].Seal(context.Background(), "a", fmt.Sprint(id), []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				cts[id] = ct
			}
		})
	}
	wg.Wait()
	perVersion := map[uint32]int{}
	for id, ct := range cts {
		perVersion[version(t, ct)]++
		mustOpen(t, vaults[id%2], "a", fmt.Sprint(id), ct)
	}
	wks, _ := keys.DataKeys(context.Background(), "a")
	for i, wk := range wks {
		if perVersion[wk.Version] >= maxEnc {
			t.Errorf("version %d sealed %d records, want fewer than %d", wk.Version, perVersion[wk.Version], maxEnc)
		}
		if want := map[bool]string{true: vault.StatusActive, false: vault.StatusRetired}[i == len(wks)-1]; wk.Status != want {
			t.Errorf("version %d is %s, want %s", wk.Version, wk.Status, want)
		}
	}
	if len(wks) < workers*each/maxEnc {
		t.Fatalf("%d versions for %d encryptions with a budget of %d", len(wks), workers*each, maxEnc)
	}
}

func TestInvalidatePicksUpOtherInstancesRotation(t *testing.T) {
	ctx := context.Background()
	keys := newMemKeys()
	a, b := newVault(t, keyN(1), keys, nil), newVault(t, keyN(1), keys, nil)
	seal(t, b, "acct", "r", "x") // warms b on version 1
	if _, err := a.Rotate(ctx, "acct", nil); err != nil {
		t.Fatal(err)
	}
	fromA := seal(t, a, "acct", "r", "new")
	if version(t, fromA) != 2 {
		t.Fatal("rotating instance does not seal with the new version at once")
	}
	if got := mustOpen(t, b, "acct", "r", fromA); got != "new" {
		t.Fatal("other instance cannot open the unknown version")
	}
	b.Invalidate("acct")
	if ver := version(t, seal(t, b, "acct", "r", "x")); ver != 2 {
		t.Fatalf("after Invalidate the other instance seals with version %d, want 2", ver)
	}
}

func TestSealErrors(t *testing.T) {
	ctx := context.Background()
	keys := newMemKeys()
	v := newVault(t, keyN(1), keys, nil)
	seal(t, v, "a", "r", "x")
	if _, err := v.Seal(ctx, "", "r", nil); err == nil {
		t.Fatal("Seal with an empty account succeeded")
	}
	if _, err := v.Seal(ctx, "a", "", nil); err == nil {
		t.Fatal("Seal with an empty record ID succeeded")
	}
	// A vault whose master does not match refuses to seal for that account
	// rather than silently creating a new key.
	w := newVault(t, keyN(2), keys, nil)
	var ke *vault.KeyError
	if _, err := w.Seal(ctx, "a", "r", []byte("x")); !errors.As(err, &ke) {
		t.Fatalf("Seal with a non-matching master = %v, want *KeyError", err)
	}
	if diff := cmp.Diff([]string{"v1:active"}, keyStates(t, keys, "a")); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		master []byte
		keys   vault.KeyStore
		opts   *vault.Options
	}{
		{name: "ShortMaster", master: keyN(1)[:16], keys: newMemKeys()},
		{name: "ShortPrevious", master: keyN(1), keys: newMemKeys(), opts: &vault.Options{Previous: []byte("x")}},
		{name: "NilStore", master: keyN(1)},
		{name: "BlockAboveBudget", master: keyN(1), keys: newMemKeys(), opts: &vault.Options{ReserveBlock: 10, MaxEncryptions: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := vault.New(tt.master, tt.keys, tt.opts); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

// TestOtherInstanceWinsInsert lets another instance create the same version
// between this vault's read and its insert: the vault must adopt that key.
func TestOtherInstanceWinsInsert(t *testing.T) {
	tests := []struct {
		name      string
		warmSeals int    // seals by this vault before the race
		want      uint32 // version of the racing seal
		states    []string
	}{
		{name: "FirstSeal", warmSeals: 0, want: 1, states: []string{"v1:active"}},
		{name: "BudgetSpent", warmSeals: 4, want: 2, states: []string{"v1:retired", "v2:active"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemKeys()
			opts := &vault.Options{ReserveBlock: 2, MaxEncryptions: 5}
			other := newVault(t, keyN(1), mem, opts)
			hooked := &hookKeys{memKeys: mem}
			v := newVault(t, keyN(1), hooked, opts)
			hooked.beforeInsert = func(vault.WrappedKey) {}
			var cts [][]byte
			for i := range tt.warmSeals {
				cts = append(cts, seal(t, v, "a", fmt.Sprint(i), "x"))
			}
			raced := 0
			hooked.beforeInsert = func(k vault.WrappedKey) {
				if raced++; raced == 1 {
					cts = append(cts, seal(t, other, "a", "other", "x"))
				}
			}
			ct := seal(t, v, "a", "mine", "x")
			if raced != 1 {
				t.Fatalf("vault inserted %d times, want 1 (the lost race)", raced)
			}
			if got := version(t, ct); got != tt.want {
				t.Fatalf("racing seal used version %d, want %d", got, tt.want)
			}
			if diff := cmp.Diff(tt.states, keyStates(t, mem, "a")); diff != "" {
				t.Fatalf("keys (-want +got):\n%s", diff)
			}
			mustOpen(t, other, "a", "mine", ct)
		})
	}
}
