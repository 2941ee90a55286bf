package authn

import (
	"context"
	"errors"
	"sync"
	"time"
)

// NonceStore records the nonces of signed requests so that each is accepted
// once (§4.6). Implementations live with their storage (memory here; SQLite,
// Postgres and Redis in their packages) and must pass
// authntest.TestNonceStore.
type NonceStore interface {
	// UseNonce records (keyID, nonce) for ttl. fresh is true exactly once
	// per pair while the record lives: concurrent callers with the same pair
	// see one true and the rest false. After ttl the pair may be fresh again.
	UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (fresh bool, err error)
}

var _ NonceStore = (*MemoryNonces)(nil)

// MemoryNonces is the process-local NonceStore, allowed only where one
// instance serves all requests (SQLite) and for tests. It is safe for
// concurrent use.
type MemoryNonces struct {
	now func() time.Time

	mu      sync.Mutex
	expires map[nonceKey]time.Time
	// queue lists records in insertion order so that pruning pops expired
	// records from the front instead of scanning the whole map. With mixed
	// TTLs a long-lived head delays the pruning of later records, never their
	// expiry, which UseNonce judges from the map.
	queue []queuedNonce
	head  int
}

type nonceKey struct{ keyID, nonce string }

type queuedNonce struct {
	key     nonceKey
	expires time.Time
}

// NewMemoryNonces returns an empty store; now is its clock (nil: time.Now).
func NewMemoryNonces(now func() time.Time) *MemoryNonces {
	if now == nil {
		now = time.Now
	}
	return &MemoryNonces{now: now, expires: make(map[nonceKey]time.Time)}
}

// UseNonce implements NonceStore.
func (m *MemoryNonces) UseNonce(_ context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("authn: nonce ttl must be positive")
	}
	now := m.now()
	k := nonceKey{keyID, nonce}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if exp, ok := m.expires[k]; ok && now.Before(exp) {
		return false, nil
	}
	exp := now.Add(ttl)
	m.expires[k] = exp
	m.queue = append(m.queue, queuedNonce{key: k, expires: exp})
	return true, nil
}

// Len returns the number of records held, expired ones not yet pruned included.
func (m *MemoryNonces) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

// prune drops expired records from the front of the queue; m.mu is held.
func (m *MemoryNonces) prune(now time.Time) {
	for m.head < len(m.queue) {
		q := m.queue[m.head]
		if now.Before(q.expires) {
			break
		}
		// A record re-used after expiry has a later expiry in the map and a
		// later queue entry of its own; only the matching entry deletes it.
		if exp, ok := m.expires[q.key]; ok && exp.Equal(q.expires) {
			delete(m.expires, q.key)
		}
		m.queue[m.head] = queuedNonce{}
		m.head++
	}
	// Reclaim the consumed prefix once it is most of the slice.
	if m.head > 64 && m.head*2 > len(m.queue) {
		n := copy(m.queue, m.queue[m.head:])
		clear(m.queue[n:])
		m.queue = m.queue[:n]
		m.head = 0
	}
}
