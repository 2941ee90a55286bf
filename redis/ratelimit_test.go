package redis_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/ratelimit/ratelimittest"
	"github.com/patchbay-mcp/patchbay/redis"
)

func TestRateStore(t *testing.T) {
	e := newEnv(t)
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store { return redis.NewRateStore(e.client(t)) })
}

// twoInstances sends each Admit to one of two Clients in turn, as a load
// balancer spreads requests over instances.
type twoInstances struct {
	stores [2]ratelimit.Store
	n      atomic.Uint64
}

func (s *twoInstances) Admit(ctx context.Context, rules []ratelimit.Rule, window time.Duration, now time.Time) ([]ratelimit.Decision, error) {
	return s.stores[s.n.Add(1)%2].Admit(ctx, rules, window, now)
}

// TestRateStoreTwoInstances runs the whole contract with every other call
// on another Client: the windows are one, whichever instance decides.
func TestRateStoreTwoInstances(t *testing.T) {
	e := newEnv(t)
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store {
		return &twoInstances{stores: [2]ratelimit.Store{redis.NewRateStore(e.client(t)), redis.NewRateStore(e.client(t))}}
	})
}

func TestRateStoreConcurrentInstancesAdmitExactlyN(t *testing.T) {
	e := newEnv(t)
	stores := []*redis.RateStore{redis.NewRateStore(e.client(t)), redis.NewRateStore(e.client(t))}
	const goroutines, attempts, limit = 50, 5, 37
	rules := []ratelimit.Rule{{Key: "shared", Limit: limit}}
	now := time.Unix(1767225600, 0)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%2]
			for range attempts {
				ds, err := s.Admit(context.Background(), rules, time.Minute, now)
				if err != nil {
					errs <- err
					return
				}
				if ds[0].Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Admit: %v", err)
	}
	if got := admitted.Load(); got != limit {
		t.Fatalf("admitted %d of %d requests over two instances, want exactly %d", got, goroutines*attempts, limit)
	}
}

// TestRateStoreMatchesMemoryStore replays random schedules (several rules,
// repeated keys, limit changes, bursts at one instant, a clock that
// sometimes steps back as another instance's would) against the memory
// store and wants the same decisions, at microsecond times. Simulated time
// runs far faster than the real one here, so PEXPIRE (real time) never
// drops a key the simulated window still needs; windows must stay well
// above a request's real duration for that to hold.
func TestRateStoreMatchesMemoryStore(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		seed   uint64
		window time.Duration
	}{
		{name: "Minute", seed: 1, window: time.Minute},
		{name: "ShortWindow", seed: 2, window: 250 * time.Millisecond},
		{name: "OddWindow", seed: 3, window: 1234567 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := redis.NewRateStore(e.client(t))
			ms := ratelimit.NewMemoryStore(nil)
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			keys := []string{tt.name + "/a", tt.name + "/b", tt.name + "/c"}
			now := time.Unix(1767225600, 0).Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)
			for i := range 1200 {
				switch r := rng.IntN(10); {
				case r < 2: // same instant
				case r < 3: // a lagging clock
					now = now.Add(-time.Duration(rng.IntN(int(tt.window/time.Microsecond/20)+1)) * time.Microsecond)
				default:
					now = now.Add(time.Duration(rng.IntN(int(tt.window/time.Microsecond/8)+1)) * time.Microsecond)
				}
				rules := make([]ratelimit.Rule, 1+rng.IntN(3))
				for k := range rules {
					rules[k] = ratelimit.Rule{Key: keys[rng.IntN(len(keys))], Limit: rng.IntN(12)}
				}
				want, err := ms.Admit(t.Context(), rules, tt.window, now)
				if err != nil {
					t.Fatal(err)
				}
				got, err := rs.Admit(t.Context(), rules, tt.window, now)
				if err != nil {
					t.Fatalf("request %d: Admit: %v", i, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("request %d at %v, rules %v: decisions differ from the memory store (-memory +redis):\n%s",
						i, now.UnixMicro(), rules, diff)
				}
			}
		})
	}
}

// TestRateStoreKeysExpire checks that a window's key carries a TTL of about
// one window after its newest entry, so idle keys leave Redis.
func TestRateStoreKeysExpire(t *testing.T) {
	e := newEnv(t)
	s := redis.NewRateStore(e.client(t))
	raw := e.raw(t)
	now := time.Now()
	for i := range 3 {
		if _, err := s.Admit(t.Context(), []ratelimit.Rule{{Key: "k", Limit: 10}}, time.Minute, now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	ttl, err := raw.PTTL(t.Context(), e.prefix+"pb:rl:k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("PTTL = %v, want about one window (1m)", ttl)
	}
	// A refused request does not extend it.
	if _, err := s.Admit(t.Context(), []ratelimit.Rule{{Key: "k", Limit: 0}}, time.Minute, now.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ttl2, _ := raw.PTTL(t.Context(), e.prefix+"pb:rl:k").Result(); ttl2 > ttl {
		t.Fatalf("PTTL grew from %v to %v after a refusal", ttl, ttl2)
	}
}

func TestRateStoreErrors(t *testing.T) {
	e := newEnv(t)
	s := redis.NewRateStore(e.client(t))
	raw := e.raw(t)
	if err := raw.Set(t.Context(), e.prefix+"pb:rl:string", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1767225600, 0)
	tests := []struct {
		name   string
		rules  []ratelimit.Rule
		window time.Duration
	}{
		{name: "ZeroWindow", rules: []ratelimit.Rule{{Key: "k", Limit: 1}}},
		{name: "SubMicrosecondWindow", rules: []ratelimit.Rule{{Key: "k", Limit: 1}}, window: time.Nanosecond},
		// A key of the wrong type is a bug, not an outage.
		{name: "WrongType", rules: []ratelimit.Rule{{Key: "string", Limit: 1}}, window: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Admit(t.Context(), tt.rules, tt.window, now)
			if err == nil {
				t.Fatal("Admit succeeded")
			}
			if errors.Is(err, redis.ErrUnavailable) {
				t.Fatalf("err = %v; must not be ErrUnavailable", err)
			}
		})
	}
	t.Run("NoRules", func(t *testing.T) {
		ds, err := s.Admit(t.Context(), nil, time.Minute, now)
		if err != nil || len(ds) != 0 {
			t.Fatalf("Admit without rules = %v, %v; want no decisions", ds, err)
		}
	})
}

func BenchmarkRateStoreAdmit(b *testing.B) {
	e := newEnv(b)
	s := redis.NewRateStore(e.client(b))
	rules := []ratelimit.Rule{{Key: "user", Limit: 1 << 30}, {Key: "aggregate", Limit: 1 << 30}}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Unix(1767225600, 0).Add(time.Duration(n.Add(1)) * time.Microsecond)
			if _, err := s.Admit(context.Background(), rules, time.Millisecond, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
