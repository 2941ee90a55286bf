package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// Sealer seals and opens records bound to an account and a record ID
// (§14); *vault.Vault satisfies it.
type Sealer interface {
	Seal(ctx context.Context, accountID, recordID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, accountID, recordID string, ciphertext []byte) ([]byte, error)
}

// setScript stores one sealed value and records it in its groups.
//
// KEYS[1]: the entry; KEYS[2..]: its groups. ARGV: value, ttl (ms).
//
// A group is a sorted set of entry keys scored by the entry's expiry on
// Redis' own clock, so that expired members are pruned as the group is used
// (a busy connector's group would otherwise grow for as long as it keeps
// being refreshed) and the group itself expires with its last member. The
// one-second margin keeps a member until its entry is certainly gone:
// pruning a live member would let DeleteGroup miss it.
const setScript = `
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #KEYS do
  local g = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', g, '-inf', now - 1000)
  redis.call('ZADD', g, now + ttl, KEYS[1])
  if redis.call('PTTL', g) < ttl + 1000 then
    redis.call('PEXPIRE', g, ttl + 1000)
  end
end
return 1
`

// deleteGroupScript drops a group's entries and the group in one step, so
// that a concurrent Set is either dropped with it or recorded afterwards,
// never lost from the group while its entry survives. The entry keys are
// not declared in KEYS; that only matters to Redis Cluster, which this
// package does not support.
const deleteGroupScript = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #members, 500 do
  redis.call('DEL', unpack(members, i, math.min(i + 499, #members)))
end
redis.call('DEL', KEYS[1])
return #members
`

// Cache is the read cache of §10.4 shared by every instance. Values are
// sealed with the account's data key (record ID = hex SHA-256 of the cache
// key), so Redis holds only ciphertext, and a value copied to another key or
// account fails to open.
//
// Cache itself implements connector.Cache for request paths: the account is
// the one of the patchbay.Principal in ctx, as the gateway's contexts carry
// it. ForAccount binds an account explicitly for callers without one.
// Keys and groups are the opaque strings of connector.CacheKey,
// CredentialGroup and ConnectorGroup; they already include the account.
type Cache struct {
	c      *Client
	sealer Sealer
	set    *goredis.Script
	drop   *goredis.Script
}

var (
	_ connector.Cache = (*Cache)(nil)
	_ connector.Cache = (*AccountCache)(nil)
)

// errNoAccount is returned by Get and Set when ctx carries no principal.
var errNoAccount = errors.New("redis: cache: no account: ctx carries no principal")

// NewCache returns a Cache over c that seals values with sealer.
func NewCache(c *Client, sealer Sealer) *Cache {
	return &Cache{c: c, sealer: sealer, set: goredis.NewScript(setScript), drop: goredis.NewScript(deleteGroupScript)}
}

// ForAccount returns the cache bound to accountID.
func (c *Cache) ForAccount(accountID string) *AccountCache {
	return &AccountCache{c: c, accountID: accountID}
}

// Get implements connector.Cache for the account of the principal in ctx.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	id, err := accountFrom(ctx)
	if err != nil {
		return nil, false, err
	}
	return c.get(ctx, id, key)
}

// Set implements connector.Cache for the account of the principal in ctx.
func (c *Cache) Set(ctx context.Context, key string, val []byte, ttl time.Duration, groups ...string) error {
	id, err := accountFrom(ctx)
	if err != nil {
		return err
	}
	return c.put(ctx, id, key, val, ttl, groups)
}

// DeleteGroup implements connector.Cache. It needs no account: nothing is
// opened.
func (c *Cache) DeleteGroup(ctx context.Context, group string) error {
	if err := c.drop.Run(ctx, c.c.rdb, []string{c.c.key(group)}).Err(); err != nil {
		return c.c.fail(ctx, "cache delete group", err)
	}
	return nil
}

func accountFrom(ctx context.Context) (string, error) {
	p := patchbay.PrincipalFrom(ctx)
	if p == nil || p.AccountID == "" {
		return "", errNoAccount
	}
	return p.AccountID, nil
}

// recordID is the §14 record ID of a cache value.
func recordID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (c *Cache) get(ctx context.Context, accountID, key string) ([]byte, bool, error) {
	rkey := c.c.key(key)
	sealed, err := c.c.rdb.Get(ctx, rkey).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.c.fail(ctx, "cache get", err)
	}
	val, err := c.sealer.Open(ctx, accountID, recordID(key), sealed)
	if err != nil {
		// A value that does not open (another account's, a rotated-away
		// key, tampering) is a miss; dropping it stops it failing again.
		c.c.log.WarnContext(ctx, "redis: cache value failed to open; dropped", "record_id", recordID(key), "error", err.Error())
		_ = c.c.rdb.Del(context.WithoutCancel(ctx), rkey).Err()
		return nil, false, nil
	}
	return val, true, nil
}

func (c *Cache) put(ctx context.Context, accountID, key string, val []byte, ttl time.Duration, groups []string) error {
	rkey := c.c.key(key)
	ms := int64(ttl / time.Millisecond)
	if ms <= 0 {
		// As in connector.MemoryCache: not stored, and an older value goes.
		if err := c.c.rdb.Del(ctx, rkey).Err(); err != nil {
			return c.c.fail(ctx, "cache set", err)
		}
		return nil
	}
	sealed, err := c.sealer.Seal(ctx, accountID, recordID(key), val)
	if err != nil {
		return err
	}
	keys := make([]string, 1, 1+len(groups))
	keys[0] = rkey
	for _, g := range groups {
		keys = append(keys, c.c.key(g))
	}
	if err := c.set.Run(ctx, c.c.rdb, keys, sealed, ms).Err(); err != nil {
		return c.c.fail(ctx, "cache set", err)
	}
	return nil
}

// AccountCache is a Cache bound to one account; it implements
// connector.Cache whatever ctx carries.
type AccountCache struct {
	c         *Cache
	accountID string
}

// Get implements connector.Cache.
func (a *AccountCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return a.c.get(ctx, a.accountID, key)
}

// Set implements connector.Cache.
func (a *AccountCache) Set(ctx context.Context, key string, val []byte, ttl time.Duration, groups ...string) error {
	return a.c.put(ctx, a.accountID, key, val, ttl, groups)
}

// DeleteGroup implements connector.Cache.
func (a *AccountCache) DeleteGroup(ctx context.Context, group string) error {
	return a.c.DeleteGroup(ctx, group)
}
