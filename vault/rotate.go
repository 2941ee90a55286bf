package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// RotateResult reports what Rotate did, one entry per account in account-ID
// order.
type RotateResult struct {
	Accounts []AccountRotation
}

// AccountRotation is the outcome of rotating one account's data key.
type AccountRotation struct {
	AccountID string
	// NewVersion is the version added; 0 when the account has no data key
	// (nothing was sealed for it, so there is nothing to rotate).
	NewVersion uint32
	Rewrapped  int // records resealed under NewVersion
	// Failed counts records that did not decrypt; they are left untouched
	// (§14) and named in FailedRecords as "<kind>/<recordId>" for the log.
	Failed        int
	FailedRecords []string
	// Skipped counts records that kept changing under other writers; they stay
	// on an older version, which remains openable.
	Skipped int
	Retired []uint32 // versions marked retired
}

// Rotate adds a data-key version for accountID (every account with a data key
// when accountID is ""), which this vault's Seal uses at once; rewraps every
// record of records that is on an older version, in pages of
// Options.RotateBatch, with compare-and-swap so concurrent writers win; then
// marks the older versions retired. Retired versions still open records (a
// writer on another instance may have used one meanwhile) but never seal.
// records may be nil to only add the version and retire the old ones.
// Other instances pick up the new version on Invalidate or at their next
// reservation block.
func (v *Vault) Rotate(ctx context.Context, accountID string, records RecordStore) (RotateResult, error) {
	ids := []string{accountID}
	if accountID == "" {
		all, err := v.keys.AllDataKeys(ctx)
		if err != nil {
			return RotateResult{}, fmt.Errorf("vault: rotate: %w", err)
		}
		ids = ids[:0]
		for _, wk := range all {
			ids = append(ids, wk.AccountID)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	var res RotateResult
	for _, id := range ids {
		r, err := v.rotateAccount(ctx, id, records)
		res.Accounts = append(res.Accounts, r)
		if err != nil {
			return res, fmt.Errorf("vault: rotate account %q: %w", id, err)
		}
	}
	return res, nil
}

func (v *Vault) rotateAccount(ctx context.Context, id string, records RecordStore) (AccountRotation, error) {
	r := AccountRotation{AccountID: id}
	newVer, err := v.addVersion(ctx, id)
	if err != nil || newVer == 0 {
		return r, err
	}
	r.NewVersion = newVer
	if records != nil {
		if err := v.rewrapAll(ctx, id, records, &r); err != nil {
			return r, err
		}
	}
	wks, err := v.keys.DataKeys(ctx, id)
	if err != nil {
		return r, err
	}
	for _, wk := range wks {
		if wk.Version < newVer && wk.Status == StatusActive {
			if err := v.keys.SetDataKeyStatus(ctx, id, wk.Version, StatusRetired); err != nil {
				return r, err
			}
			r.Retired = append(r.Retired, wk.Version)
		}
	}
	a := v.account(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = v.load(ctx, id, a)
	return r, err
}

// addVersion inserts the account's next version and makes it current here.
// It returns 0 for an account without keys.
func (v *Vault) addVersion(ctx context.Context, id string) (uint32, error) {
	a := v.account(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	for range maxAttempts {
		ks, err := v.load(ctx, id, a)
		if err != nil || ks.maxVersion == 0 {
			return 0, err
		}
		next := ks.maxVersion + 1
		err = v.insertVersion(ctx, id, next)
		if errors.Is(err, ErrKeyExists) {
			continue // another instance added one; go past it
		}
		if err != nil {
			return 0, err
		}
		if _, err := v.load(ctx, id, a); err != nil {
			return 0, err
		}
		return next, nil
	}
	return 0, fmt.Errorf("vault: could not add a data-key version after %d attempts", maxAttempts)
}

func (v *Vault) rewrapAll(ctx context.Context, id string, records RecordStore, r *AccountRotation) error {
	cursor := ""
	for {
		recs, next, err := records.SealedRecords(ctx, id, cursor, v.batch)
		if err != nil {
			return fmt.Errorf("read sealed records: %w", err)
		}
		for _, rec := range recs {
			if err := v.rewrapRecord(ctx, id, records, cursor, rec, r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		if next == cursor {
			return fmt.Errorf("read sealed records: cursor %q does not advance", cursor)
		}
		cursor = next
	}
}

// rewrapRecord reseals one record under the current version. When the
// compare-and-swap loses to a concurrent writer it re-reads the record and
// tries again; a writer that already used the new version ends the work.
func (v *Vault) rewrapRecord(ctx context.Context, id string, records RecordStore, cursor string, rec SealedRecord, r *AccountRotation) error {
	for range maxAttempts {
		if ver, ok := RecordVersion(rec.Ciphertext); ok && ver >= r.NewVersion {
			return nil
		}
		pt, err := v.Open(ctx, id, rec.RecordID, rec.Ciphertext)
		if errors.Is(err, ErrDecrypt) {
			r.Failed++
			r.FailedRecords = append(r.FailedRecords, rec.Kind+"/"+rec.RecordID)
			return nil
		}
		if err != nil {
			return err
		}
		ct, err := v.Seal(ctx, id, rec.RecordID, pt)
		clear(pt)
		if err != nil {
			return err
		}
		swapped, err := records.ReplaceSealed(ctx, rec, ct)
		if err != nil {
			return fmt.Errorf("replace sealed record: %w", err)
		}
		if swapped {
			r.Rewrapped++
			return nil
		}
		cur, found, err := findRecord(ctx, records, id, cursor, v.batch, rec)
		if err != nil || !found { // not found: deleted meanwhile
			return err
		}
		rec = cur
	}
	r.Skipped++
	return nil
}

// findRecord re-reads rec from the page where it was found onwards. The
// cursor is opaque, so paging on is the only way to reach it if records were
// inserted before it meanwhile.
func findRecord(ctx context.Context, records RecordStore, id, cursor string, limit int, rec SealedRecord) (SealedRecord, bool, error) {
	for {
		recs, next, err := records.SealedRecords(ctx, id, cursor, limit)
		if err != nil {
			return SealedRecord{}, false, fmt.Errorf("re-read sealed record: %w", err)
		}
		for _, c := range recs {
			if c.Kind == rec.Kind && c.RecordID == rec.RecordID {
				return c, true, nil
			}
		}
		if next == "" || next == cursor {
			return SealedRecord{}, false, nil
		}
		cursor = next
	}
}

// RotateMaster rewraps every data key under newMaster in one atomic store
// update and returns how many keys it rewrapped. Keys already under newMaster
// are verified and left alone, so running it again finishes an interrupted
// change (for example keys another instance created under the old master
// meanwhile, while it was configured as previous). Afterwards this vault uses
// newMaster as current and the old one as previous; a vault built with only
// the old master fails Check.
func (v *Vault) RotateMaster(ctx context.Context, newMaster []byte) (int, error) {
	v.masterMu.Lock()
	defer v.masterMu.Unlock()
	nm, err := newMasterKey(newMaster, "new master key")
	if err != nil {
		return 0, err
	}
	m := v.masters.Load()
	all, err := v.keys.AllDataKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("vault: rotate master key: %w", err)
	}
	var out []WrappedKey
	for _, wk := range all {
		aead := m.byFingerprint(wk.MasterFingerprint)
		if wk.MasterFingerprint == nm.fp {
			aead = nm.aead
		}
		if aead == nil {
			return 0, &KeyError{Reason: ReasonMismatch, Message: fmt.Sprintf(
				"data key of %s is wrapped under master key %s, which is not configured", keyName(wk.AccountID, wk.Version), wk.MasterFingerprint)}
		}
		dek, ok := unwrapKey(aead, wk)
		if !ok {
			return 0, &KeyError{Reason: ReasonCheckFailed, Message: "data key of " + keyName(wk.AccountID, wk.Version) + " does not unwrap"}
		}
		if wk.MasterFingerprint == nm.fp {
			clear(dek)
			continue
		}
		wk.Wrapped, err = v.wrapKey(nm.aead, wk.AccountID, wk.Version, dek)
		clear(dek)
		if err != nil {
			return 0, err
		}
		wk.MasterFingerprint = nm.fp
		out = append(out, wk)
	}
	if len(out) > 0 {
		if err := v.keys.RewrapDataKeys(ctx, out); err != nil {
			return 0, fmt.Errorf("vault: rotate master key: %w", err)
		}
	}
	if nm.fp != m.current.fp {
		prev := m.current
		v.masters.Store(&masterSet{current: nm, previous: &prev})
	}
	return len(out), nil
}
