package gateway

import (
	"sort"
	"sync"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// credCache keeps each (account, user, connector, binding) candidate list
// in memory, so that a warm tools/call selects its credential without a
// database round trip. Entries live for the config TTL; every change made
// through the credential manager (create, reconnect, refresh, status,
// delete) drops the user's entries at once, and lastUsedAt is updated in
// place so that "most recently used" stays exact on this instance.
type credCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[credKey]*credEntry
	// gens counts dropUser calls per user. A list read from the store
	// before a drop may miss a new credential or still hold a deleted one,
	// so it is cached only if no drop of its user happened since the read
	// began.
	gens generations
}

// credKey names one candidate list. catalog is the account's connector
// version: deleting a connector with force=true deletes its credentials in
// the store without a per-credential notice, so a list cached for an older
// catalog is never used for a connector of the same ID created later.
type credKey struct {
	account, user, connector, bound string
	catalog                         int64
}

type credEntry struct {
	creds   []*patchbay.Credential // ordered as ListCredentials orders them
	expires time.Time
}

func newCredCache(ttl time.Duration) *credCache {
	return &credCache{ttl: ttl, entries: map[credKey]*credEntry{}, gens: newGenerations()}
}

// get returns the cached list, or the generation to pass to put after
// reading the store.
func (c *credCache) get(k credKey, now time.Time) ([]*patchbay.Credential, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || !now.Before(e.expires) {
		return nil, false, c.gens.of(k.account + "\x00" + k.user)
	}
	return e.creds, true, 0
}

// put caches a list read from the store when no drop happened since get
// returned gen.
func (c *credCache) put(k credKey, creds []*patchbay.Credential, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens.of(k.account+"\x00"+k.user) != gen {
		return
	}
	if len(c.entries) > 100000 {
		c.entries = map[credKey]*credEntry{}
	}
	c.entries[k] = &credEntry{creds: creds, expires: now.Add(c.ttl)}
}

// stale returns a list whose TTL has ended but that was read from the
// store less than staleLimit ago and not dropped since: a warm call keeps
// its credential while the database is unreachable (§17.5).
func (c *credCache) stale(k credKey, now time.Time) ([]*patchbay.Credential, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || now.Sub(e.expires.Add(-c.ttl)) >= staleLimit {
		return nil, false
	}
	return e.creds, true
}

// dropAll forgets every cached list.
func (c *credCache) dropAll() {
	c.mu.Lock()
	c.gens.bumpAll()
	clear(c.entries)
	c.mu.Unlock()
}

// dropUser forgets every cached list of a user (any connector, binding);
// user "" means every user of the account.
func (c *credCache) dropUser(account, user string) {
	c.mu.Lock()
	if user == "" {
		c.gens.bumpAll()
	} else {
		c.gens.bump(account + "\x00" + user)
	}
	for k := range c.entries {
		if k.account == account && (user == "" || k.user == user) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}

// touched records a use: the credential moves to the front of its lists.
func (c *credCache) touched(account, user, credID string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.account != account || k.user != user {
			continue
		}
		for i, cr := range e.creds {
			if cr.ID != credID {
				continue
			}
			cp := *cr
			t := at.UTC().Truncate(time.Second)
			cp.LastUsedAt = &t
			list := append([]*patchbay.Credential(nil), e.creds...)
			list[i] = &cp
			sortCredentials(list)
			c.entries[k] = &credEntry{creds: list, expires: e.expires}
			break
		}
	}
}

// sortCredentials applies §7.6: last used first, never used last, then
// newest created.
func sortCredentials(list []*patchbay.Credential) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		switch {
		case a.LastUsedAt != nil && b.LastUsedAt == nil:
			return true
		case a.LastUsedAt == nil && b.LastUsedAt != nil:
			return false
		case a.LastUsedAt != nil && !a.LastUsedAt.Equal(*b.LastUsedAt):
			return a.LastUsedAt.After(*b.LastUsedAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID < b.ID
	})
}

// CredentialChanged drops cached candidate lists of the credential's user
// (every user of the account when UserID is empty, e.g. after an OAuth app
// change revoked credentials); the credential manager calls it after every
// change.
func (h *Handler) CredentialChanged(c *patchbay.Credential) {
	h.creds2.dropUser(c.AccountID, c.UserID)
}
