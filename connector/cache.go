package connector

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// Cache stores shaped read-action outputs (§10.4). Entries belong to groups
// so that a write action, a credential change or a connector change can drop
// every entry it affects at once. MemoryCache implements it; package redis
// provides the shared one.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration, groups ...string) error
	DeleteGroup(ctx context.Context, group string) error
}

var _ Cache = (*MemoryCache)(nil)

// CacheKey derives the read-cache key of §10.4 from (account, effective
// user, credential or "" for none, connector, action, RFC 8785 canonical
// parameters). The fields are length-prefixed before hashing, so no two
// tuples share a key, and the key reveals neither IDs nor parameters.
func CacheKey(accountID, userID, credentialID, connectorID, actionID string, canonicalParams []byte) string {
	return "patchbay:cache:entry:" + digest(accountID, userID, credOrDash(credentialID), connectorID, actionID, string(canonicalParams))
}

// CredentialGroup names the entries of one (account, user, credential,
// connector): dropped after a write action through that credential, and when
// the credential is deleted or changes status.
func CredentialGroup(accountID, userID, credentialID, connectorID string) string {
	return "patchbay:cache:cred:" + digest(accountID, userID, credOrDash(credentialID), connectorID)
}

// ConnectorGroup names the entries of one connector in one account: dropped
// when the connector is updated or deleted.
func ConnectorGroup(accountID, connectorID string) string {
	return "patchbay:cache:conn:" + digest(accountID, connectorID)
}

func credOrDash(id string) string {
	if id == "" {
		return "-"
	}
	return id
}

func digest(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// MemoryCache is an in-process LRU Cache bounded by bytes, with TTLs and
// groups. It is safe for concurrent use.
type MemoryCache struct {
	mu     sync.Mutex
	max    int64
	size   int64
	now    func() time.Time
	ll     *list.List // front: most recently used
	items  map[string]*list.Element
	groups map[string]map[string]struct{}
}

type cacheEntry struct {
	key     string
	val     []byte
	expires time.Time
	groups  []string
	size    int64
}

// entryOverhead approximates the bookkeeping bytes of one entry, so that
// many tiny entries still count against the bound.
const entryOverhead = 128

// NewMemoryCache returns a cache holding at most maxBytes (keys, values,
// group names and a per-entry overhead). now nil means time.Now.
func NewMemoryCache(maxBytes int64, now func() time.Time) *MemoryCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryCache{
		max:    maxBytes,
		now:    now,
		ll:     list.New(),
		items:  make(map[string]*list.Element),
		groups: make(map[string]map[string]struct{}),
	}
}

// Get returns a copy of the value stored under key, if present and fresh.
func (c *MemoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[key]
	if el == nil {
		return nil, false, nil
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return nil, false, nil
	}
	c.ll.MoveToFront(el)
	return append([]byte(nil), e.val...), true, nil
}

// Set stores a copy of val for ttl in the given groups, evicting the least
// recently used entries as needed. A value larger than the whole cache, or
// a ttl <= 0, is not stored (and drops an older value of the key).
func (c *MemoryCache) Set(_ context.Context, key string, val []byte, ttl time.Duration, groups ...string) error {
	size := int64(len(key)+len(val)) + entryOverhead
	for _, g := range groups {
		size += int64(len(g))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[key]; el != nil {
		c.remove(el)
	}
	if ttl <= 0 || size > c.max {
		return nil
	}
	e := &cacheEntry{
		key:     key,
		val:     append([]byte(nil), val...),
		expires: c.now().Add(ttl),
		groups:  append([]string(nil), groups...),
		size:    size,
	}
	c.items[key] = c.ll.PushFront(e)
	c.size += size
	for _, g := range e.groups {
		set := c.groups[g]
		if set == nil {
			set = make(map[string]struct{})
			c.groups[g] = set
		}
		set[key] = struct{}{}
	}
	for c.size > c.max {
		c.remove(c.ll.Back())
	}
	return nil
}

// DeleteGroup drops every entry of group.
func (c *MemoryCache) DeleteGroup(_ context.Context, group string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.groups[group] {
		if el := c.items[key]; el != nil {
			c.remove(el)
		}
	}
	delete(c.groups, group)
	return nil
}

// Len reports the number of entries (expired ones included until touched).
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Size reports the accounted bytes.
func (c *MemoryCache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

func (c *MemoryCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.size -= e.size
	for _, g := range e.groups {
		if set := c.groups[g]; set != nil {
			delete(set, e.key)
			if len(set) == 0 {
				delete(c.groups, g)
			}
		}
	}
}
