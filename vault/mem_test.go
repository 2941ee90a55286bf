package vault_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/patchbay-mcp/patchbay/vault"
)

// memKeys is an in-memory vault.KeyStore with the semantics the SQL stores
// implement. calls counts every method call so tests can prove the hot path
// stays off the store.
type memKeys struct {
	mu    sync.Mutex
	keys  map[string]map[uint32]vault.WrappedKey
	calls atomic.Int64
}

var _ vault.KeyStore = (*memKeys)(nil)

func newMemKeys() *memKeys { return &memKeys{keys: map[string]map[uint32]vault.WrappedKey{}} }

var errNoKey = errors.New("memkeys: no such data key")

func clone(k vault.WrappedKey) vault.WrappedKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

func byAccountVersion(a, b vault.WrappedKey) int {
	return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Version, b.Version))
}

func (m *memKeys) DataKeys(_ context.Context, accountID string) ([]vault.WrappedKey, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.WrappedKey
	for _, k := range m.keys[accountID] {
		out = append(out, clone(k))
	}
	slices.SortFunc(out, byAccountVersion)
	return out, nil
}

func (m *memKeys) AllDataKeys(context.Context) ([]vault.WrappedKey, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.WrappedKey
	for _, vs := range m.keys {
		for _, k := range vs {
			out = append(out, clone(k))
		}
	}
	slices.SortFunc(out, byAccountVersion)
	return out, nil
}

func (m *memKeys) InsertDataKey(_ context.Context, k vault.WrappedKey) error {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.AccountID][k.Version]; ok {
		return fmt.Errorf("memkeys: insert %s/%d: %w", k.AccountID, k.Version, vault.ErrKeyExists)
	}
	if m.keys[k.AccountID] == nil {
		m.keys[k.AccountID] = map[uint32]vault.WrappedKey{}
	}
	m.keys[k.AccountID][k.Version] = clone(k)
	return nil
}

func (m *memKeys) RewrapDataKeys(_ context.Context, keys []vault.WrappedKey) error {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if _, ok := m.keys[k.AccountID][k.Version]; !ok {
			return errNoKey
		}
	}
	for _, k := range keys {
		cur := m.keys[k.AccountID][k.Version]
		cur.Wrapped, cur.MasterFingerprint = bytes.Clone(k.Wrapped), k.MasterFingerprint
		m.keys[k.AccountID][k.Version] = cur
	}
	return nil
}

func (m *memKeys) SetDataKeyStatus(_ context.Context, accountID string, version uint32, status string) error {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[accountID][version]
	if !ok {
		return errNoKey
	}
	k.Status = status
	m.keys[accountID][version] = k
	return nil
}

func (m *memKeys) ReserveEncryptions(_ context.Context, accountID string, version uint32, n uint64) (uint64, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[accountID][version]
	if !ok {
		return 0, errNoKey
	}
	k.Encryptions += n
	m.keys[accountID][version] = k
	return k.Encryptions, nil
}

// tamper lets a test corrupt stored key material.
func (m *memKeys) tamper(accountID string, version uint32, f func(*vault.WrappedKey)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.keys[accountID][version]
	f(&k)
	m.keys[accountID][version] = k
}

// memRecords is an in-memory vault.RecordStore; the cursor is the last
// returned "<kind>\x00<recordId>".
type memRecords struct {
	mu   sync.Mutex
	recs map[string]map[string]vault.SealedRecord // account -> kind\x00id -> record
}

var _ vault.RecordStore = (*memRecords)(nil)

func newMemRecords() *memRecords {
	return &memRecords{recs: map[string]map[string]vault.SealedRecord{}}
}

func recKey(kind, id string) string { return kind + "\x00" + id }

func (m *memRecords) put(accountID, kind, recordID string, ct []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[accountID] == nil {
		m.recs[accountID] = map[string]vault.SealedRecord{}
	}
	m.recs[accountID][recKey(kind, recordID)] = vault.SealedRecord{
		Kind: kind, AccountID: accountID, RecordID: recordID, Ciphertext: bytes.Clone(ct), Ref: recKey(kind, recordID),
	}
}

func (m *memRecords) get(accountID, kind, recordID string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.recs[accountID][recKey(kind, recordID)].Ciphertext)
}

func (m *memRecords) all(accountID string) []vault.SealedRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.SealedRecord
	for _, r := range m.recs[accountID] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b vault.SealedRecord) int { return cmp.Compare(a.Ref, b.Ref) })
	return out
}

func (m *memRecords) SealedRecords(_ context.Context, accountID, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.recs[accountID] {
		if k > cursor {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1]
	}
	out := make([]vault.SealedRecord, 0, len(keys))
	for _, k := range keys {
		r := m.recs[accountID][k]
		r.Ciphertext = bytes.Clone(r.Ciphertext)
		out = append(out, r)
	}
	return out, next, nil
}

func (m *memRecords) ReplaceSealed(_ context.Context, rec vault.SealedRecord, newCiphertext []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.recs[rec.AccountID][rec.Ref]
	if !ok || !bytes.Equal(cur.Ciphertext, rec.Ciphertext) {
		return false, nil
	}
	cur.Ciphertext = bytes.Clone(newCiphertext)
	m.recs[rec.AccountID][rec.Ref] = cur
	return true, nil
}

func (m *memRecords) remove(accountID, kind, recordID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs[accountID], recKey(kind, recordID))
}

// interferingRecords runs before ahead of every ReplaceSealed, standing in for
// a writer that changes a record between rotation's read and its swap.
type interferingRecords struct {
	*memRecords
	before func(rec vault.SealedRecord)
}

func (r *interferingRecords) ReplaceSealed(ctx context.Context, rec vault.SealedRecord, ct []byte) (bool, error) {
	r.before(rec)
	return r.memRecords.ReplaceSealed(ctx, rec, ct)
}

// hookKeys runs beforeInsert ahead of each InsertDataKey, standing in for
// another instance that gets there first.
type hookKeys struct {
	*memKeys
	beforeInsert func(k vault.WrappedKey)
}

func (h *hookKeys) InsertDataKey(ctx context.Context, k vault.WrappedKey) error {
	h.beforeInsert(k)
	return h.memKeys.InsertDataKey(ctx, k)
}
