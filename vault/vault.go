package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Record format (§14): format || version (uint32 BE) || nonce || ciphertext+tag.
const (
	formatV1  = 0x01
	nonceLen  = 12
	tagLen    = 16
	headerLen = 1 + 4 + nonceLen
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = headerLen + tagLen
)

// ErrDecrypt is the only error Open returns for a ciphertext that does not
// open: malformed, tampered, copied from another record or account, or
// sealed with a data key this vault cannot unwrap. Callers report
// INTERNAL_ERROR and log; the record is never returned or overwritten.
var ErrDecrypt = errors.New("vault: record does not decrypt")

// Options tunes a Vault. The zero value (or nil) means the defaults.
type Options struct {
	// Previous is the former master key during a master-key change: data
	// keys wrapped under it still unwrap, new data keys use the current one.
	Previous []byte
	Now      func() time.Time // nil: time.Now
	Random   io.Reader        // nil: crypto/rand.Reader; nonces and data keys
	// ReserveBlock is how many encryptions an instance reserves in the store
	// at a time, so that counting costs one round trip per block rather than
	// per Seal. Default 1<<20.
	ReserveBlock uint64
	// MaxEncryptions bounds the encryptions per data-key version: a version
	// performs fewer than this many, then a new version replaces it (random
	// 96-bit nonces stay safe below 2^32). Default 1<<32; tests lower it.
	MaxEncryptions uint64
	// RotateBatch is how many records Rotate reads per page. Default 100.
	RotateBatch int
}

// Vault seals and opens records with per-account data keys. It is safe for
// concurrent use; once an account's key is warm, Seal and Open touch no
// store except to reserve a new block of encryptions.
type Vault struct {
	keys   KeyStore
	now    func() time.Time
	random io.Reader
	block  uint64
	max    uint64
	batch  int

	masters  atomic.Pointer[masterSet]
	masterMu sync.Mutex // serializes RotateMaster
	accounts sync.Map   // account ID -> *account
}

// masterSet is immutable; RotateMaster swaps in a new one.
type masterSet struct {
	current  masterKey
	previous *masterKey
}

type masterKey struct {
	fp   string
	aead cipher.AEAD
}

func (m *masterSet) byFingerprint(fp string) cipher.AEAD {
	if fp == m.current.fp {
		return m.current.aead
	}
	if m.previous != nil && fp == m.previous.fp {
		return m.previous.aead
	}
	return nil
}

// New returns a vault over keys with master as the current master key. It
// does not touch the store; call Check at start-up to fail closed.
func New(master []byte, keys KeyStore, opts *Options) (*Vault, error) {
	if keys == nil {
		return nil, errors.New("vault: nil KeyStore")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	cur, err := newMasterKey(master, "master key")
	if err != nil {
		return nil, err
	}
	ms := &masterSet{current: cur}
	if o.Previous != nil {
		prev, err := newMasterKey(o.Previous, "previous master key")
		if err != nil {
			return nil, err
		}
		if prev.fp != cur.fp {
			ms.previous = &prev
		}
	}
	v := &Vault{
		keys:   keys,
		now:    o.Now,
		random: o.Random,
		block:  o.ReserveBlock,
		max:    o.MaxEncryptions,
		batch:  o.RotateBatch,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.random == nil {
		v.random = rand.Reader
	}
	if v.block == 0 {
		v.block = 1 << 20
	}
	if v.max == 0 {
		v.max = 1 << 32
	}
	if v.batch <= 0 {
		v.batch = 100
	}
	if v.block > v.max || v.block > 1<<40 {
		return nil, fmt.Errorf("vault: ReserveBlock %d must not exceed MaxEncryptions %d or 2^40", v.block, v.max)
	}
	v.masters.Store(ms)
	return v, nil
}

func newMasterKey(key []byte, what string) (masterKey, error) {
	if len(key) != KeySize {
		return masterKey{}, &KeyError{Reason: ReasonInvalid, Message: fmt.Sprintf("%s has %d bytes, want %d", what, len(key), KeySize)}
	}
	aead, err := newAEAD(key)
	if err != nil {
		return masterKey{}, err
	}
	return masterKey{fp: Fingerprint(key), aead: aead}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return cipher.NewGCM(block)
}

// MasterFingerprint is the fingerprint of the current master key.
func (v *Vault) MasterFingerprint() string { return v.masters.Load().current.fp }

// Check fails closed at start-up: when wrapped data keys exist, the
// configured master keys (current and previous) must cover every one of them
// and each must unwrap. Any failure is a *KeyError.
func (v *Vault) Check(ctx context.Context) error {
	all, err := v.keys.AllDataKeys(ctx)
	if err != nil {
		return fmt.Errorf("vault: check keys: %w", err)
	}
	if len(all) == 0 {
		return nil
	}
	m := v.masters.Load()
	var matched int
	var failed, unknown []string
	unknownFP := map[string]bool{}
	for _, wk := range all {
		aead := m.byFingerprint(wk.MasterFingerprint)
		if aead == nil {
			unknown = append(unknown, keyName(wk.AccountID, wk.Version))
			unknownFP[wk.MasterFingerprint] = true
			continue
		}
		matched++
		dek, ok := unwrapKey(aead, wk)
		if !ok {
			failed = append(failed, keyName(wk.AccountID, wk.Version))
			continue
		}
		clear(dek)
	}
	configured := m.current.fp
	if m.previous != nil {
		configured += " (previous " + m.previous.fp + ")"
	}
	switch {
	case matched == 0:
		return &KeyError{Reason: ReasonMismatch, Message: fmt.Sprintf(
			"the master key (fingerprint %s) matches none of the %d wrapped data keys (wrapped under %s)",
			configured, len(all), sortedKeys(unknownFP))}
	case len(failed) > 0:
		return &KeyError{Reason: ReasonCheckFailed, Message: fmt.Sprintf(
			"key check failed: %d data keys with the fingerprint of master key %s do not unwrap: %s",
			len(failed), configured, abbreviate(failed))}
	case len(unknown) > 0:
		return &KeyError{Reason: ReasonMismatch, Message: fmt.Sprintf(
			"%d data keys are wrapped under master key(s) %s, which are not configured (configured: %s): %s",
			len(unknown), sortedKeys(unknownFP), configured, abbreviate(unknown))}
	}
	return nil
}

// Seal encrypts plaintext for one record of an account with the account's
// current data key, creating version 1 on the account's first use.
func (v *Vault) Seal(ctx context.Context, accountID, recordID string, plaintext []byte) ([]byte, error) {
	if accountID == "" || recordID == "" {
		return nil, errors.New("vault: seal: empty account or record ID")
	}
	a := v.account(accountID)
	for {
		ks := a.keys.Load()
		if ks != nil && ks.current != nil && ks.current.take() {
			return v.seal(ks.current, accountID, recordID, plaintext)
		}
		if err := v.refill(ctx, accountID, a, ks); err != nil {
			return nil, err
		}
	}
}

func (v *Vault) seal(k *dataKey, accountID, recordID string, plaintext []byte) ([]byte, error) {
	n := headerLen + len(plaintext) + tagLen
	// One allocation: the associated data lives in the spare capacity behind
	// the ciphertext and is cut off by the three-index slice.
	buf := make([]byte, n, n+aadLen(accountID, recordID))
	buf[0] = formatV1
	binary.BigEndian.PutUint32(buf[1:5], k.version)
	nonce := buf[5:headerLen]
	if _, err := io.ReadFull(v.random, nonce); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	aad := appendAAD(buf[n:n], accountID, recordID, k.version)
	k.aead.Seal(buf[:headerLen], nonce, plaintext, aad)
	return buf[:n:n], nil
}

// Open decrypts a record sealed by Seal for the same account and record ID.
// Any failure to authenticate is ErrDecrypt; store failures while looking up
// an unknown key version are returned wrapped as they are.
func (v *Vault) Open(ctx context.Context, accountID, recordID string, ct []byte) ([]byte, error) {
	version, ok := RecordVersion(ct)
	if !ok || accountID == "" {
		return nil, ErrDecrypt
	}
	a := v.account(accountID)
	k := a.keys.Load().lookup(version)
	if k == nil {
		var err error
		if k, err = v.lookupSlow(ctx, accountID, a, version); err != nil {
			return nil, err
		}
	}
	if k.aead == nil {
		return nil, ErrDecrypt
	}
	ptLen := len(ct) - Overhead
	buf := make([]byte, 0, ptLen+aadLen(accountID, recordID))
	aad := appendAAD(buf[ptLen:ptLen], accountID, recordID, version)
	pt, err := k.aead.Open(buf, ct[5:headerLen], ct[headerLen:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt[:ptLen:ptLen], nil
}

// RecordVersion returns the data-key version a sealed record names, and
// false when ct is not a well-formed record (stores and `keys status` use it
// to count records per version).
func RecordVersion(ct []byte) (uint32, bool) {
	if len(ct) < Overhead || ct[0] != formatV1 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(ct[1:5])
	return v, v != 0
}

// Invalidate drops the cached keys of an account, so the next Seal or Open
// reloads them from the store. Call it on a change notice from another
// instance (a rotation there).
func (v *Vault) Invalidate(accountID string) { v.accounts.Delete(accountID) }

// InvalidateAll drops every cached key, for example after missed change
// notices.
func (v *Vault) InvalidateAll() { v.accounts.Clear() }

func aadLen(accountID, recordID string) int { return len(accountID) + len(recordID) + 2 + 10 }

// appendAAD appends `<accountId>|<recordId>|<keyVersion>` (§14).
func appendAAD(b []byte, accountID, recordID string, version uint32) []byte {
	b = append(b, accountID...)
	b = append(b, '|')
	b = append(b, recordID...)
	b = append(b, '|')
	return strconv.AppendUint(b, uint64(version), 10)
}
