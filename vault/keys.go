package vault

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// account caches one account's unwrapped data keys. Readers use the
// immutable keySet without locking; mu serializes loads, version creation and
// reservations so that one instance makes one store round trip at a time per
// account.
type account struct {
	mu   sync.Mutex
	keys atomic.Pointer[keySet]
}

type keySet struct {
	byVersion  map[uint32]*dataKey
	current    *dataKey // highest active version; nil if none
	maxVersion uint32   // highest version of any status
}

func (ks *keySet) lookup(version uint32) *dataKey {
	if ks == nil {
		return nil
	}
	return ks.byVersion[version]
}

// dataKey is one unwrapped version. The key bytes exist only inside aead.
type dataKey struct {
	version uint32
	aead    cipher.AEAD // nil when the key did not unwrap; it then opens nothing
	// left counts the encryptions still reserved for this instance. It may go
	// negative under contention; only refill, holding account.mu, raises it.
	left atomic.Int64
}

func (k *dataKey) take() bool { return k.left.Add(-1) >= 0 }

func (v *Vault) account(id string) *account {
	if a, ok := v.accounts.Load(id); ok {
		return a.(*account)
	}
	a, _ := v.accounts.LoadOrStore(id, &account{})
	return a.(*account)
}

// maxAttempts bounds the retries when other instances race us on the same
// account (version creation, rotation).
const maxAttempts = 8

// refill makes the account's current key usable for at least one more
// encryption: it loads keys, creates version 1, reserves a block of
// encryptions, or replaces a version whose budget is spent.
func (v *Vault) refill(ctx context.Context, accountID string, a *account, seen *keySet) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ks := a.keys.Load(); ks != seen && ks != nil && ks.current != nil && ks.current.left.Load() > 0 {
		return nil // another goroutine did the work while we waited
	}
	for range maxAttempts {
		// Reloading on every block also picks up versions other instances
		// added, so a missed change notice costs at most one block.
		ks, err := v.load(ctx, accountID, a)
		if err != nil {
			return err
		}
		cur := ks.current
		if cur == nil {
			if err := v.insertVersion(ctx, accountID, ks.maxVersion+1); err != nil && !errors.Is(err, ErrKeyExists) {
				return err
			}
			continue
		}
		if cur.aead == nil {
			return &KeyError{Reason: ReasonCheckFailed, Message: "current data key of " + keyName(accountID, cur.version) + " does not unwrap"}
		}
		if cur.left.Load() > 0 {
			return nil
		}
		total, err := v.keys.ReserveEncryptions(ctx, accountID, cur.version, v.block)
		if err != nil {
			return fmt.Errorf("vault: reserve encryptions: %w", err)
		}
		if total < v.max {
			cur.left.Store(int64(v.block))
			return nil
		}
		// Budget spent: the next version takes over (or another instance's,
		// if it was quicker), and this one only opens from now on.
		if err := v.insertVersion(ctx, accountID, ks.maxVersion+1); err != nil && !errors.Is(err, ErrKeyExists) {
			return err
		}
		if err := v.keys.SetDataKeyStatus(ctx, accountID, cur.version, StatusRetired); err != nil {
			return fmt.Errorf("vault: retire data key: %w", err)
		}
	}
	return fmt.Errorf("vault: no usable data key for account %q after %d attempts", accountID, maxAttempts)
}

// lookupSlow reloads the account once for a version that is not cached:
// another instance may have created it.
func (v *Vault) lookupSlow(ctx context.Context, accountID string, a *account, version uint32) (*dataKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k := a.keys.Load().lookup(version); k != nil {
		return k, nil
	}
	ks, err := v.load(ctx, accountID, a)
	if err != nil {
		return nil, err
	}
	if len(ks.byVersion) == 0 {
		// Do not keep entries for accounts without keys (garbage input).
		v.accounts.CompareAndDelete(accountID, a)
	}
	if k := ks.lookup(version); k != nil {
		return k, nil
	}
	return nil, ErrDecrypt
}

// load reads the account's keys and publishes a new keySet. Versions already
// cached keep their unwrapped key and reservation. Callers hold a.mu.
func (v *Vault) load(ctx context.Context, accountID string, a *account) (*keySet, error) {
	wks, err := v.keys.DataKeys(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("vault: load data keys: %w", err)
	}
	old := a.keys.Load()
	m := v.masters.Load()
	ks := &keySet{byVersion: make(map[uint32]*dataKey, len(wks))}
	for _, wk := range wks {
		if wk.AccountID != accountID || wk.Version == 0 {
			continue
		}
		k := old.lookup(wk.Version)
		if k == nil || k.aead == nil {
			k = &dataKey{version: wk.Version}
			if aead := m.byFingerprint(wk.MasterFingerprint); aead != nil {
				if dek, ok := unwrapKey(aead, wk); ok {
					k.aead, err = newAEAD(dek)
					clear(dek)
					if err != nil {
						return nil, err
					}
				}
			}
		}
		ks.byVersion[wk.Version] = k
		ks.maxVersion = max(ks.maxVersion, wk.Version)
		if wk.Status == StatusActive && (ks.current == nil || wk.Version > ks.current.version) {
			ks.current = k
		}
	}
	a.keys.Store(ks)
	return ks, nil
}

// insertVersion creates a fresh data key, wrapped under the current master.
// It returns an error wrapping ErrKeyExists when another writer won.
func (v *Vault) insertVersion(ctx context.Context, accountID string, version uint32) error {
	if version == 0 {
		return fmt.Errorf("vault: account %q has exhausted its data-key versions", accountID)
	}
	dek := make([]byte, KeySize)
	defer clear(dek)
	if _, err := io.ReadFull(v.random, dek); err != nil {
		return fmt.Errorf("vault: generate data key: %w", err)
	}
	m := v.masters.Load()
	wrapped, err := v.wrapKey(m.current.aead, accountID, version, dek)
	if err != nil {
		return err
	}
	err = v.keys.InsertDataKey(ctx, WrappedKey{
		AccountID:         accountID,
		Version:           version,
		Wrapped:           wrapped,
		MasterFingerprint: m.current.fp,
		Status:            StatusActive,
		CreatedAt:         v.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("vault: insert data key: %w", err)
	}
	return nil
}

// dekAAD binds a wrapped key to its account and version (§14).
func dekAAD(accountID string, version uint32) []byte {
	b := make([]byte, 0, len("patchbay-dek|")+len(accountID)+11)
	b = append(b, "patchbay-dek|"...)
	b = append(b, accountID...)
	b = append(b, '|')
	return strconv.AppendUint(b, uint64(version), 10)
}

// wrapKey returns nonce(12) || ciphertext+tag of dek under the master aead.
func (v *Vault) wrapKey(master cipher.AEAD, accountID string, version uint32, dek []byte) ([]byte, error) {
	out := make([]byte, nonceLen, nonceLen+len(dek)+tagLen)
	if _, err := io.ReadFull(v.random, out); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return master.Seal(out, out[:nonceLen], dek, dekAAD(accountID, version)), nil
}

// unwrapKey returns the data key of wk, or false when it does not
// authenticate under master.
func unwrapKey(master cipher.AEAD, wk WrappedKey) ([]byte, bool) {
	if len(wk.Wrapped) != nonceLen+KeySize+tagLen {
		return nil, false
	}
	dek, err := master.Open(nil, wk.Wrapped[:nonceLen], wk.Wrapped[nonceLen:], dekAAD(wk.AccountID, wk.Version))
	return dek, err == nil
}

func keyName(accountID string, version uint32) string {
	return fmt.Sprintf("account %q version %d", accountID, version)
}

func sortedKeys(set map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(set)), ", ")
}

// abbreviate lists at most a few names so that a broken database with
// thousands of accounts still gives a readable start-up error.
func abbreviate(names []string) string {
	const show = 5
	if len(names) <= show {
		return strings.Join(names, "; ")
	}
	return strings.Join(names[:show], "; ") + fmt.Sprintf("; and %d more", len(names)-show)
}

func compareKeys(a, b WrappedKey) int {
	return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Version, b.Version))
}
