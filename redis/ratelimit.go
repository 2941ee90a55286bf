package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patchbay-mcp/patchbay/ratelimit"
)

// admitScript is ratelimit.MemoryStore's algorithm as one atomic step, so
// that every instance counts in the same windows. Each key is a sorted set
// of admitted requests: member unique per call, score the admission time in
// microseconds (exact in a double until the year 2255).
//
// KEYS: one window per rule, in rule order (a key may repeat).
// ARGV: now (µs), window (µs), this call's member, then each rule's limit.
// Returns {admitted, then per rule: count, oldest score or -1}.
//
// The request is admitted iff every window, trimmed to entries after
// now - window, holds fewer entries than its limit; it is then added once to
// each distinct key. Like the memory store's ring, an entry is recorded at
// max(now, newest entry), so an instance whose clock lags can only make a
// window stricter. A call whose member is already present is a retry of an
// admitted call (go-redis resent it after a lost reply) and is not counted
// again. PEXPIRE drops a key once its newest entry has left the window.
const admitScript = `
local now = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local member = ARGV[3]
local n = #KEYS
local admitted = redis.call('ZSCORE', KEYS[1], member) ~= false
if not admitted then
  admitted = true
  for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)
    if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[3 + i]) then
      admitted = false
    end
  end
  if admitted then
    for i = 1, n do
      local k = KEYS[i]
      if redis.call('ZSCORE', k, member) == false then
        local t = now
        local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
        if last[2] then
          t = math.max(t, tonumber(last[2]))
        end
        redis.call('ZADD', k, t, member)
        redis.call('PEXPIRE', k, math.ceil((t - now + span) / 1000))
      end
    end
  end
end
local out = {admitted and 1 or 0}
for i = 1, n do
  local k = KEYS[i]
  out[2 * i] = redis.call('ZCARD', k)
  local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
  if first[2] then
    out[2 * i + 1] = tonumber(first[2])
  else
    out[2 * i + 1] = -1
  end
end
return out
`

// rateKeyPrefix namespaces the windows under the Client's Prefix.
const rateKeyPrefix = "pb:rl:"

// RateStore is a ratelimit.Store shared by every instance that uses the
// same Redis (and Prefix). It passes ratelimittest.TestStore with the same
// decisions as ratelimit.MemoryStore, at microsecond resolution.
type RateStore struct {
	c      *Client
	script *goredis.Script
}

var _ ratelimit.Store = (*RateStore)(nil)

// NewRateStore returns a RateStore over c.
func NewRateStore(c *Client) *RateStore {
	return &RateStore{c: c, script: goredis.NewScript(admitScript)}
}

// Admit implements ratelimit.Store. now comes from the caller's clock, so
// instances should keep their clocks in sync (NTP); a lagging clock only
// delays when entries expire.
func (s *RateStore) Admit(ctx context.Context, rules []ratelimit.Rule, window time.Duration, now time.Time) ([]ratelimit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: admit: %w", err)
	}
	if window < time.Microsecond {
		return nil, errors.New("redis: admit: window must be at least 1µs")
	}
	if len(rules) == 0 {
		return []ratelimit.Decision{}, nil
	}
	keys := make([]string, len(rules))
	args := make([]any, 3, 3+len(rules))
	args[0], args[1], args[2] = now.UnixMicro(), window.Microseconds(), s.c.token()
	for i, r := range rules {
		keys[i] = s.c.key(rateKeyPrefix + r.Key)
		args = append(args, r.Limit)
	}
	res, err := s.script.Run(ctx, s.c.rdb, keys, args...).Result()
	if err != nil {
		return nil, s.c.fail(ctx, "admit", err)
	}
	vals, ok := res.([]any)
	if !ok || len(vals) != 1+2*len(rules) {
		return nil, fmt.Errorf("redis: admit: unexpected reply %T of %d values", res, len(vals))
	}
	ints := make([]int64, len(vals))
	for i, v := range vals {
		if ints[i], ok = v.(int64); !ok {
			return nil, fmt.Errorf("redis: admit: unexpected reply element %T", v)
		}
	}
	admitted := ints[0] == 1
	ds := make([]ratelimit.Decision, len(rules))
	for k, r := range rules {
		n, oldest := int(ints[1+2*k]), ints[2+2*k]
		d := ratelimit.Decision{Allowed: n < r.Limit || admitted, Limit: r.Limit, Remaining: max(r.Limit-n, 0)}
		if n > 0 && oldest >= 0 {
			d.Reset = time.UnixMicro(oldest).Add(window)
		} else {
			d.Reset = time.Unix(0, now.UnixNano()+int64(window))
		}
		if !d.Allowed {
			d.RetryAfter = d.Reset.Sub(now)
		}
		ds[k] = d
	}
	return ds, nil
}
