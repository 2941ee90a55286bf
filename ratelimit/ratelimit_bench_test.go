package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/ratelimit"
)

// steadyClock advances one step per call, so a key with limit N and step
// window/N stays at capacity: every request expires one entry and admits
// one, which is the ring buffer's steady state.
func steadyClock(step time.Duration) func() time.Time {
	var n atomic.Int64
	start := time.Unix(1767225600, 0)
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * step) }
}

func BenchmarkAllow(b *testing.B) {
	const limit = 1000
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: steadyClock(time.Minute / limit)})
	ctx := context.Background()
	rule := ratelimit.Rule{Key: "srv_01JEX4Z8C9D0E1F2G3H4J5K6L7/cust-42", Limit: limit}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, rule); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowTwoRules is the unverified-identity path: a user window and
// the server's aggregate window, decided together.
func BenchmarkAllowTwoRules(b *testing.B) {
	const limit = 1000
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: steadyClock(time.Minute / limit)})
	ctx := context.Background()
	user := ratelimit.Rule{Key: "srv_01JEX4Z8C9D0E1F2G3H4J5K6L7/cust-42", Limit: limit}
	agg := ratelimit.Rule{Key: "srv_01JEX4Z8C9D0E1F2G3H4J5K6L7", Limit: 10 * limit}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, user, agg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowParallel spreads goroutines over 1024 keys, as many users
// of many servers would.
func BenchmarkAllowParallel(b *testing.B) {
	const keys, limit = 1024, 100
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: steadyClock(time.Millisecond)})
	ctx := context.Background()
	rules := make([]ratelimit.Rule, keys)
	for i := range rules {
		rules[i] = ratelimit.Rule{Key: "srv/user-" + strconv.Itoa(i), Limit: limit}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			i++
			if _, err := l.Allow(ctx, rules[i%keys]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAllowParallelOneKey is the worst case: every goroutine on one key.
func BenchmarkAllowParallelOneKey(b *testing.B) {
	const limit = 1000
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: steadyClock(time.Minute / limit)})
	ctx := context.Background()
	rule := ratelimit.Rule{Key: "srv/cust-42", Limit: limit}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, rule); err != nil {
				b.Fatal(err)
			}
		}
	})
}
