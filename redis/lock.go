package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patchbay-mcp/patchbay/oauth"
)

// acquireScript takes the lock if it is free, and also reports success when
// the lock already holds this caller's token: go-redis may resend the
// command after the first reply was lost, and that first SET took the lock.
//
// KEYS[1]: the lock. ARGV: token, ttl (ms). Returns 1 if held.
const acquireScript = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`

// releaseScript deletes the lock only if it still holds the caller's token,
// so a holder whose TTL ran out cannot release the next holder's lock.
const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// Backoff between attempts to take a held lock: short, because a refresh
// usually takes one token-endpoint round trip, and jittered so waiters on
// several instances do not poll in step.
const (
	lockMinBackoff = 5 * time.Millisecond
	lockMaxBackoff = 100 * time.Millisecond
)

// Locker is an oauth.Locker shared by every instance (§13.5: the refresh
// lock pb:lock:refresh:<credentialId>, 30 s).
type Locker struct {
	c       *Client
	acquire *goredis.Script
	release *goredis.Script
}

var _ oauth.Locker = (*Locker)(nil)

// NewLocker returns a Locker over c.
func NewLocker(c *Client) *Locker {
	return &Locker{c: c, acquire: goredis.NewScript(acquireScript), release: goredis.NewScript(releaseScript)}
}

// Lock implements oauth.Locker: it blocks until key is held or ctx ends,
// and fails at once with ErrUnavailable when Redis is unreachable, so the
// caller can fall back instead of waiting. The lock expires after ttl
// (rounded up to whole milliseconds) even if unlock is never called;
// unlock releases it only while it is still this caller's, and may be
// called more than once.
func (l *Locker) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, errors.New("redis: lock ttl must be positive")
	}
	var raw [16]byte
	if _, err := io.ReadFull(l.c.random, raw[:]); err != nil {
		return nil, fmt.Errorf("redis: lock token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	rkey := l.c.key(key)
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)

	backoff := lockMinBackoff
	var timer *time.Timer
	for {
		n, err := l.acquire.Run(ctx, l.c.rdb, []string{rkey}, token, ms).Int64()
		if err != nil {
			return nil, l.c.fail(ctx, "lock", err)
		}
		if n == 1 {
			break
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("redis: lock: %w", ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, lockMaxBackoff)
	}

	var once sync.Once
	unlock := func() {
		once.Do(func() {
			// The caller's ctx may be over by now; the release gets its own
			// short deadline, and if it fails the TTL frees the lock.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = l.release.Run(ctx, l.c.rdb, []string{rkey}, token).Err()
		})
	}
	return unlock, nil
}
