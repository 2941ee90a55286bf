package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/vault"
)

// TestKeyStore runs the KeyStore contract against stores returned by open.
// open is called once per subtest and must return an empty store (the
// VaultOnStore subtest checks and rewraps every key in it); subtests also use
// random account IDs, so leftovers from other suites cannot collide.
func TestKeyStore(t *testing.T, open func(t *testing.T) vault.KeyStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s vault.KeyStore)
	}{
		{name: "UnknownAccountHasNoKeys", run: testUnknownAccount},
		{name: "InsertThenReadAscending", run: testInsertRead},
		{name: "VersionsUpToMaxUint32", run: testLargeVersions},
		{name: "DuplicateInsertIsErrKeyExists", run: testDuplicate},
		{name: "AccountsAreIsolated", run: testIsolation},
		{name: "AllDataKeysOrdered", run: testAll},
		{name: "RewrapChangesOnlyWrappedAndFingerprint", run: testRewrap},
		{name: "RewrapIsAllOrNothing", run: testRewrapAtomic},
		{name: "SetStatus", run: testSetStatus},
		{name: "ReserveEncryptions", run: testReserve},
		{name: "ReserveEncryptionsConcurrently", run: testReserveConcurrent},
		{name: "ConcurrentInsertOneWinner", run: testInsertRace},
		{name: "VaultOnStore", run: testVault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

// equalTime compares instants, whatever location the store returns.
func equalTime() cmp.Option { return cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }) }

func newAccount(t *testing.T) string {
	t.Helper()
	return "acct_" + strings.ToLower(rand.Text()[:12])
}

func key(account string, version uint32) vault.WrappedKey {
	w := make([]byte, 60)
	copy(w, account)
	w[0], w[1], w[59] = 0, 0xff, byte(version) // zero and high bytes must survive
	return vault.WrappedKey{
		AccountID:         account,
		Version:           version,
		Wrapped:           w,
		MasterFingerprint: "0badf00d",
		Status:            vault.StatusActive,
		Encryptions:       uint64(version) << 20,
		// Whole seconds: every store keeps at least that precision.
		CreatedAt: time.Date(2026, 3, 1, 12, 30, 45, 0, time.UTC).Add(time.Duration(version) * time.Second),
	}
}

func insert(t *testing.T, s vault.KeyStore, keys ...vault.WrappedKey) {
	t.Helper()
	for _, k := range keys {
		if err := s.InsertDataKey(context.Background(), k); err != nil {
			t.Fatalf("InsertDataKey(%s, %d): %v", k.AccountID, k.Version, err)
		}
	}
}

func wantKeys(t *testing.T, s vault.KeyStore, account string, want ...vault.WrappedKey) {
	t.Helper()
	got, err := s.DataKeys(context.Background(), account)
	if err != nil {
		t.Fatalf("DataKeys(%s): %v", account, err)
	}
	if want == nil {
		want = []vault.WrappedKey{}
	}
	if got == nil {
		got = []vault.WrappedKey{}
	}
	if diff := cmp.Diff(want, got, equalTime()); diff != "" {
		t.Fatalf("DataKeys(%s) (-want +got):\n%s", account, diff)
	}
}

func testUnknownAccount(t *testing.T, s vault.KeyStore) {
	wantKeys(t, s, newAccount(t))
}

func testInsertRead(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k1, k2, k3 := key(a, 1), key(a, 2), key(a, 3)
	k2.Status = vault.StatusRetired
	k3.Encryptions = 1<<32 + 7 // beyond 32 bits
	insert(t, s, k3, k1, k2)
	wantKeys(t, s, a, k1, k2, k3)
}

func testLargeVersions(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	keys := []vault.WrappedKey{key(a, 1<<31-1), key(a, 1<<31), key(a, math.MaxUint32)}
	insert(t, s, keys[2], keys[0], keys[1])
	wantKeys(t, s, a, keys...)
	total, err := s.ReserveEncryptions(context.Background(), a, math.MaxUint32, 5)
	if err != nil || total != keys[2].Encryptions+5 {
		t.Fatalf("ReserveEncryptions(version MaxUint32) = %d, %v; want %d", total, err, keys[2].Encryptions+5)
	}
}

func testDuplicate(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k := key(a, 1)
	insert(t, s, k)
	dup := key(a, 1)
	dup.Wrapped = bytes.Repeat([]byte{7}, 60)
	dup.MasterFingerprint = "12345678"
	err := s.InsertDataKey(context.Background(), dup)
	if !errors.Is(err, vault.ErrKeyExists) {
		t.Fatalf("second InsertDataKey = %v, want ErrKeyExists", err)
	}
	wantKeys(t, s, a, k)
}

func testIsolation(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	upper := strings.ToUpper(a) // IDs are case-sensitive
	prefixed := a + "x"
	ka, ku, kp := key(a, 1), key(upper, 1), key(prefixed, 2)
	ku.MasterFingerprint = "aaaaaaaa"
	insert(t, s, ka, ku, kp)
	wantKeys(t, s, a, ka)
	wantKeys(t, s, upper, ku)
	wantKeys(t, s, prefixed, kp)
	if _, err := s.ReserveEncryptions(context.Background(), upper, 1, 10); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s, a, ka)
}

func testAll(t *testing.T, s vault.KeyStore) {
	a, b := newAccount(t), newAccount(t)
	if a > b {
		a, b = b, a
	}
	want := []vault.WrappedKey{key(a, 1), key(a, 2), key(b, 1), key(b, 7)}
	insert(t, s, want[3], want[1], want[2], want[0])
	all, err := s.AllDataKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []vault.WrappedKey
	for _, k := range all {
		if k.AccountID == a || k.AccountID == b {
			got = append(got, k)
		}
	}
	if diff := cmp.Diff(want, got, equalTime()); diff != "" {
		t.Fatalf("AllDataKeys, this test's accounts (-want +got):\n%s", diff)
	}
	sorted := slices.IsSortedFunc(all, func(x, y vault.WrappedKey) int {
		if c := strings.Compare(x.AccountID, y.AccountID); c != 0 {
			return c
		}
		return int(int64(x.Version) - int64(y.Version))
	})
	if !sorted {
		t.Fatal("AllDataKeys is not ordered by account ID, then version")
	}
}

func testRewrap(t *testing.T, s vault.KeyStore) {
	a, b := newAccount(t), newAccount(t)
	k1, k2, kb := key(a, 1), key(a, 2), key(b, 1)
	insert(t, s, k1, k2, kb)
	n1, nb := k1, kb
	n1.Wrapped, n1.MasterFingerprint = bytes.Repeat([]byte{1}, 60), "11111111"
	nb.Wrapped, nb.MasterFingerprint = bytes.Repeat([]byte{2}, 60), "22222222"
	// Other fields in the argument must be ignored.
	arg1, argb := n1, nb
	arg1.Status, arg1.Encryptions, arg1.CreatedAt = vault.StatusRetired, 99, time.Time{}
	if err := s.RewrapDataKeys(context.Background(), []vault.WrappedKey{arg1, argb}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s, a, n1, k2)
	wantKeys(t, s, b, nb)
	if err := s.RewrapDataKeys(context.Background(), nil); err != nil {
		t.Fatalf("RewrapDataKeys(nil) = %v, want nil", err)
	}
}

func testRewrapAtomic(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k1 := key(a, 1)
	insert(t, s, k1)
	n1 := k1
	n1.Wrapped, n1.MasterFingerprint = bytes.Repeat([]byte{1}, 60), "11111111"
	missing := key(a, 2)
	if err := s.RewrapDataKeys(context.Background(), []vault.WrappedKey{n1, missing}); err == nil {
		t.Fatal("RewrapDataKeys with a missing key succeeded, want an error")
	}
	wantKeys(t, s, a, k1)
}

func testSetStatus(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k1, k2 := key(a, 1), key(a, 2)
	insert(t, s, k1, k2)
	ctx := context.Background()
	if err := s.SetDataKeyStatus(ctx, a, 1, vault.StatusRetired); err != nil {
		t.Fatal(err)
	}
	k1.Status = vault.StatusRetired
	wantKeys(t, s, a, k1, k2)
	if err := s.SetDataKeyStatus(ctx, a, 1, vault.StatusRetired); err != nil {
		t.Fatalf("setting the same status again = %v, want nil", err)
	}
	if err := s.SetDataKeyStatus(ctx, a, 3, vault.StatusRetired); err == nil {
		t.Fatal("SetDataKeyStatus on a missing key succeeded, want an error")
	}
	wantKeys(t, s, a, k1, k2)
}

func testReserve(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k := key(a, 1)
	k.Encryptions = 0
	insert(t, s, k, key(a, 2))
	ctx := context.Background()
	for i, want := range []uint64{1 << 20, 2 << 20, 2<<20 + 1} {
		n := uint64(1 << 20)
		if i == 2 {
			n = 1
		}
		got, err := s.ReserveEncryptions(ctx, a, 1, n)
		if err != nil || got != want {
			t.Fatalf("ReserveEncryptions #%d = %d, %v; want %d", i, got, err, want)
		}
	}
	k.Encryptions = 2<<20 + 1
	wantKeys(t, s, a, k, key(a, 2))
	if _, err := s.ReserveEncryptions(ctx, a, 3, 1); err == nil {
		t.Fatal("ReserveEncryptions on a missing key succeeded, want an error")
	}
}

func testReserveConcurrent(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	k := key(a, 1)
	k.Encryptions = 0
	insert(t, s, k)
	const workers, each, n = 16, 20, 3
	totals := make(chan uint64, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				total, err := s.ReserveEncryptions(context.Background(), a, 1, n)
				if err != nil {
					t.Error(err)
					return
				}
				totals <- total
			}
		})
	}
	wg.Wait()
	close(totals)
	seen := map[uint64]bool{}
	for total := range totals {
		if seen[total] || total%n != 0 || total > workers*each*n {
			t.Fatalf("total %d returned twice or out of range: reservations are not atomic", total)
		}
		seen[total] = true
	}
	k.Encryptions = workers * each * n
	wantKeys(t, s, a, k)
}

func testInsertRace(t *testing.T, s vault.KeyStore) {
	a := newAccount(t)
	const workers = 10
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			k := key(a, 1)
			k.Wrapped[5] = byte(i)
			errs <- s.InsertDataKey(context.Background(), k)
		})
	}
	wg.Wait()
	close(errs)
	var won int
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, vault.ErrKeyExists):
			t.Fatalf("racing InsertDataKey = %v, want nil or ErrKeyExists", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing inserts of one version succeeded, want 1", won)
	}
}

// testVault runs a real vault over the store: two instances racing to create
// an account's first key, rotation and a master-key change.
func testVault(t *testing.T, s vault.KeyStore) {
	ctx := context.Background()
	if all, err := s.AllDataKeys(ctx); err != nil || len(all) != 0 {
		t.Fatalf("open returned a store with %d keys (%v); it must return an empty store", len(all), err)
	}
	master, next := bytes.Repeat([]byte{1}, vault.KeySize), bytes.Repeat([]byte{2}, vault.KeySize)
	a := newAccount(t)
	v1, err := vault.New(master, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(master, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sealed := make([][]byte, 20)
	for i := range sealed {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		wg.Go(func() {
			ct, err := v.Seal(ctx, a, "rec", []byte("secret"))
			if err != nil {
				t.Error(err)
			}
			sealed[i] = ct
		})
	}
	wg.Wait()
	keys, err := s.DataKeys(ctx, a)
	if err != nil || len(keys) != 1 || keys[0].Version != 1 {
		t.Fatalf("after racing first seals: %d keys, %v; want exactly version 1", len(keys), err)
	}
	if _, err := v1.Rotate(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	v2.Invalidate(a)
	ct2, err := v2.Seal(ctx, a, "rec", []byte("secret"))
	if ver, _ := vault.RecordVersion(ct2); err != nil || ver != 2 {
		t.Fatalf("seal after rotation: version %d, %v; want 2", ver, err)
	}
	if _, err := v1.RotateMaster(ctx, next); err != nil {
		t.Fatal(err)
	}
	var ke *vault.KeyError
	if err := v2.Check(ctx); !errors.As(err, &ke) {
		t.Fatalf("Check with the old master after RotateMaster = %v, want *vault.KeyError", err)
	}
	v3, err := vault.New(next, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v3.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ct := range append(sealed, ct2) {
		if pt, err := v3.Open(ctx, a, "rec", ct); err != nil || string(pt) != "secret" {
			t.Fatalf("Open #%d under the new master = %q, %v", i, pt, err)
		}
	}
}
