package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patchbay-mcp/patchbay/authn"
)

// useNonceScript is SET NX PX plus a check of the owner token, so that a
// call go-redis resent after losing the first reply still sees its own
// record as fresh instead of as a replay.
//
// KEYS[1]: the record. ARGV: owner token, ttl (ms). Returns 1 if fresh.
const useNonceScript = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 1
end
return 0
`

// NonceStore is an authn.NonceStore shared by every instance (§4.6).
type NonceStore struct {
	c      *Client
	script *goredis.Script
}

var _ authn.NonceStore = (*NonceStore)(nil)

// NewNonceStore returns a NonceStore over c.
func NewNonceStore(c *Client) *NonceStore {
	return &NonceStore{c: c, script: goredis.NewScript(useNonceScript)}
}

// UseNonce implements authn.NonceStore. The TTL is rounded up to whole
// milliseconds.
func (s *NonceStore) UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redis: nonce ttl must be positive")
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	// The key ID's length keeps (keyID, nonce) pairs apart whatever
	// characters either contains.
	key := s.c.key("pb:nonce:" + strconv.Itoa(len(keyID)) + ":" + keyID + ":" + nonce)
	n, err := s.script.Run(ctx, s.c.rdb, []string{key}, s.c.token(), int64(ms)).Int64()
	if err != nil {
		return false, s.c.fail(ctx, "use nonce", err)
	}
	return n == 1, nil
}
