package vault_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/vault"
)

func TestRotate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		account string // argument to Rotate
		want    vault.RotateResult
	}{
		{name: "AllAccounts", account: "", want: vault.RotateResult{Accounts: []vault.AccountRotation{
			{AccountID: "a", NewVersion: 2, Rewrapped: 250, Failed: 1, FailedRecords: []string{"credential/broken"}, Retired: []uint32{1}},
			{AccountID: "b", NewVersion: 2, Rewrapped: 3, Retired: []uint32{1}},
		}}},
		{name: "OneAccount", account: "b", want: vault.RotateResult{Accounts: []vault.AccountRotation{
			{AccountID: "b", NewVersion: 2, Rewrapped: 3, Retired: []uint32{1}},
		}}},
		{name: "AccountWithoutKeys", account: "nobody", want: vault.RotateResult{Accounts: []vault.AccountRotation{
			{AccountID: "nobody"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, records := newMemKeys(), newMemRecords()
			v := newVault(t, keyN(1), keys, &vault.Options{RotateBatch: 100})
			plain := map[string]string{}
			for i := range 250 {
				id := fmt.Sprintf("cred_%03d", i)
				plain["a/"+id] = "secret " + id
				records.put("a", "credential", id, seal(t, v, "a", id, plain["a/"+id]))
			}
			broken := seal(t, v, "a", "other", "x") // stored under the wrong record ID
			records.put("a", "credential", "broken", broken)
			for i := range 3 {
				id := fmt.Sprintf("srv_%d", i)
				plain["b/"+id] = "token " + id
				records.put("b", "server_token", id, seal(t, v, "b", id, plain["b/"+id]))
			}

			got, err := v.Rotate(ctx, tt.account, records)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Rotate (-want +got):\n%s", diff)
			}
			if string(records.get("a", "credential", "broken")) != string(broken) {
				t.Fatal("a record that failed to decrypt was overwritten")
			}
			fresh := newVault(t, keyN(1), keys, nil) // another instance, cold
			for _, r := range tt.want.Accounts {
				if r.NewVersion == 0 {
					continue
				}
				if diff := cmp.Diff([]string{"v1:retired", "v2:active"}, keyStates(t, keys, r.AccountID)); diff != "" {
					t.Fatalf("keys of %s (-want +got):\n%s", r.AccountID, diff)
				}
				for _, rec := range records.all(r.AccountID) {
					if rec.RecordID == "broken" {
						continue
					}
					if ver := version(t, rec.Ciphertext); ver != 2 {
						t.Fatalf("record %s is on version %d after rotation", rec.RecordID, ver)
					}
					if got := mustOpen(t, fresh, r.AccountID, rec.RecordID, rec.Ciphertext); got != plain[r.AccountID+"/"+rec.RecordID] {
						t.Fatalf("record %s opens as %q", rec.RecordID, got)
					}
				}
				if ver := version(t, seal(t, v, r.AccountID, "new", "x")); ver != 2 {
					t.Fatalf("seal after rotation uses version %d", ver)
				}
			}
		})
	}
}

// TestRotateUnderLoad rotates twice while eight goroutines on two instances
// keep rewriting and reading records: nothing may fail to open, during or
// after, and untouched records must all reach the newest version.
func TestRotateUnderLoad(t *testing.T) {
	ctx := context.Background()
	keys, records := newMemKeys(), newMemRecords()
	rotating := newVault(t, keyN(1), keys, &vault.Options{RotateBatch: 7})
	other := newVault(t, keyN(1), keys, nil) // gets no change notice
	const hot, total = 16, 200
	for i := range total {
		id := fmt.Sprint("rec_", i)
		records.put("acct", "credential", id, seal(t, rotating, "acct", id, "v0 "+id))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var ops atomic.Int64
	for w := range 8 {
		v := rotating
		if w%2 == 1 {
			v = other
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for n := 0; !stop.Load() || n < 50; n++ {
				id := fmt.Sprint("rec_", r.IntN(hot))
				ct, err := v.Seal(ctx, "acct", id, fmt.Appendf(nil, "w%d %s", w, id))
				if err != nil {
					t.Error(err)
					return
				}
				records.put("acct", "credential", id, ct)
				read := fmt.Sprint("rec_", r.IntN(total))
				if _, err := v.Open(ctx, "acct", read, records.get("acct", "credential", read)); err != nil {
					t.Errorf("Open(%s) during rotation: %v", read, err)
					return
				}
				ops.Add(1)
			}
		})
	}
	for range 2 {
		if _, err := rotating.Rotate(ctx, "acct", records); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if diff := cmp.Diff([]string{"v1:retired", "v2:retired", "v3:active"}, keyStates(t, keys, "acct")); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	fresh := newVault(t, keyN(1), keys, nil)
	for _, rec := range records.all("acct") {
		mustOpen(t, fresh, "acct", rec.RecordID, rec.Ciphertext)
		var n int
		fmt.Sscan(rec.RecordID[len("rec_"):], &n)
		if ver := version(t, rec.Ciphertext); n >= hot && ver != 3 {
			t.Fatalf("untouched record %s on version %d, want 3", rec.RecordID, ver)
		}
	}
	if ops.Load() < 8*50 {
		t.Fatalf("only %d worker operations ran", ops.Load())
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	keys, records := newMemKeys(), newMemRecords()
	v := newVault(t, keyN(2), keys, &vault.Options{Previous: keyN(1), RotateBatch: 2})
	for i := range 5 {
		id := fmt.Sprint("r", i)
		records.put("a", "credential", id, seal(t, v, "a", id, "x"))
	}
	if _, err := v.Rotate(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	records.put("a", "credential", "r0", seal(t, v, "a", "r0", "y")) // one record on version 2
	records.put("a", "credential", "junk", []byte("not a record"))
	records.put("b", "credential", "r", seal(t, v, "b", "r", "x"))

	fp := vault.Fingerprint(keyN(2))
	wantWith := func(counts bool, r1, r2, unknown, rb int) vault.Status {
		return vault.Status{
			MasterFingerprint:   fp,
			PreviousFingerprint: vault.Fingerprint(keyN(1)),
			RecordsCounted:      counts,
			Accounts: []vault.AccountStatus{
				{AccountID: "a", UnknownRecords: unknown, Versions: []vault.VersionStatus{
					{Version: 1, Status: vault.StatusRetired, Encryptions: 1 << 20, MasterFingerprint: fp, CreatedAt: now, Records: r1},
					{Version: 2, Status: vault.StatusActive, Encryptions: 1 << 20, MasterFingerprint: fp, CreatedAt: now, Records: r2},
				}},
				{AccountID: "b", Versions: []vault.VersionStatus{
					{Version: 1, Status: vault.StatusActive, Encryptions: 1 << 20, MasterFingerprint: fp, CreatedAt: now, Records: rb},
				}},
			},
		}
	}
	tests := []struct {
		name    string
		records vault.RecordStore
		want    vault.Status
	}{
		{name: "WithRecordCounts", records: records, want: wantWith(true, 4, 1, 1, 1)},
		{name: "KeysOnly", records: nil, want: wantWith(false, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Status(ctx, tt.records)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Status (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRotateLosesSwapToWriter makes a writer change record r4 between
// rotation's read and its compare-and-swap, in every way a writer can.
func TestRotateLosesSwapToWriter(t *testing.T) {
	ctx := context.Background()
	type env struct {
		records *memRecords
		current *vault.Vault // the rotating instance: seals with the new version
		stale   *vault.Vault // an instance without the change notice: old version
	}
	tests := []struct {
		name      string
		interfere func(e env, call int) // call counts ReplaceSealed calls for r4 from 1
		want      vault.AccountRotation
		wantR4    string // plaintext of r4 afterwards; "" if deleted
		wantR4Ver uint32
	}{
		{name: "WriterOnOldVersion", interfere: func(e env, call int) {
			if call == 1 {
				e.records.put("acct", "credential", "r4", seal(t, e.stale, "acct", "r4", "changed"))
			}
		}, want: vault.AccountRotation{Rewrapped: 10}, wantR4: "changed", wantR4Ver: 2},
		{name: "WriterOnNewVersion", interfere: func(e env, call int) {
			if call == 1 {
				e.records.put("acct", "credential", "r4", seal(t, e.current, "acct", "r4", "changed"))
			}
		}, want: vault.AccountRotation{Rewrapped: 9}, wantR4: "changed", wantR4Ver: 2},
		{name: "Deleted", interfere: func(e env, call int) {
			if call == 1 {
				e.records.remove("acct", "credential", "r4")
			}
		}, want: vault.AccountRotation{Rewrapped: 9}},
		{name: "RecordsInsertedBeforeIt", interfere: func(e env, call int) {
			if call == 1 { // pushes r4 several pages further from the page cursor
				for _, id := range []string{"r3a", "r3b", "r3c", "r3d", "r3e", "r3f", "r3g"} {
					e.records.put("acct", "credential", id, seal(t, e.current, "acct", id, "new"))
				}
				e.records.put("acct", "credential", "r4", seal(t, e.stale, "acct", "r4", "changed"))
			}
		}, want: vault.AccountRotation{Rewrapped: 10}, wantR4: "changed", wantR4Ver: 2},
		{name: "KeepsChanging", interfere: func(e env, call int) {
			e.records.put("acct", "credential", "r4", seal(t, e.stale, "acct", "r4", fmt.Sprint("change ", call)))
		}, want: vault.AccountRotation{Rewrapped: 9, Skipped: 1}, wantR4: "change 8", wantR4Ver: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := newMemKeys()
			e := env{records: newMemRecords(), current: newVault(t, keyN(1), keys, &vault.Options{RotateBatch: 3})}
			e.stale = newVault(t, keyN(1), keys, nil)
			for i := range 10 {
				id := fmt.Sprint("r", i)
				e.records.put("acct", "credential", id, seal(t, e.stale, "acct", id, "v1"))
			}
			var calls int
			records := &interferingRecords{memRecords: e.records, before: func(rec vault.SealedRecord) {
				if rec.RecordID == "r4" {
					calls++
					tt.interfere(e, calls)
				}
			}}
			got, err := e.current.Rotate(ctx, "acct", records)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.AccountID, want.NewVersion, want.Retired = "acct", 2, []uint32{1}
			if diff := cmp.Diff(vault.RotateResult{Accounts: []vault.AccountRotation{want}}, got); diff != "" {
				t.Fatalf("Rotate (-want +got):\n%s", diff)
			}
			fresh := newVault(t, keyN(1), keys, nil)
			for _, rec := range e.records.all("acct") {
				pt := mustOpen(t, fresh, "acct", rec.RecordID, rec.Ciphertext)
				ver := version(t, rec.Ciphertext)
				switch {
				case rec.RecordID == "r4":
					if pt != tt.wantR4 || ver != tt.wantR4Ver {
						t.Fatalf("r4 = %q on version %d, want %q on %d", pt, ver, tt.wantR4, tt.wantR4Ver)
					}
				case ver != 2:
					t.Fatalf("%s on version %d, want 2", rec.RecordID, ver)
				}
			}
			if tt.wantR4 == "" && e.records.get("acct", "credential", "r4") != nil {
				t.Fatal("deleted record r4 came back")
			}
		})
	}
}
