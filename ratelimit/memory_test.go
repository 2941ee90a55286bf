package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/ratelimit/ratelimittest"
)

func TestMemoryStore(t *testing.T) {
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store { return ratelimit.NewMemoryStore(nil) })
}

// TestMemoryStoreOneShard forces every key into one shard, so multi-rule
// calls lock a single shard and keys still stay independent.
func TestMemoryStoreOneShard(t *testing.T) {
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemoryStore(&ratelimit.MemoryOptions{Shards: 1})
	})
}

// TestMemoryStoreManyRules covers more rules than Admit keeps on its stack.
func TestMemoryStoreManyRules(t *testing.T) {
	s := ratelimit.NewMemoryStore(&ratelimit.MemoryOptions{Shards: 2})
	now := time.Unix(1767225600, 0)
	var rules []ratelimit.Rule
	for i := range 9 {
		rules = append(rules, ratelimit.Rule{Key: string(rune('a' + i)), Limit: 2 + i})
	}
	for i := range 2 {
		ds, err := s.Admit(context.Background(), rules, time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		for k, d := range ds {
			if !d.Allowed || d.Remaining != rules[k].Limit-1-i {
				t.Fatalf("request %d rule %d: %+v", i, k, d)
			}
		}
	}
	ds, err := s.Admit(context.Background(), rules, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Allowed || !ds[1].Allowed {
		t.Fatalf("third request: rule a %+v, rule b %+v; want a refused, b with room", ds[0], ds[1])
	}
}

// TestMemoryStoreLargeLimit admits the largest limit the contract allows
// for one key, so the ring grows to it and wraps around.
func TestMemoryStoreLargeLimit(t *testing.T) {
	const limit = 100000
	s := ratelimit.NewMemoryStore(nil)
	start := time.Unix(1767225600, 0)
	r := []ratelimit.Rule{{Key: "k", Limit: limit}}
	step := time.Minute / limit / 2 // the whole limit fits in half a window
	admit := func(now time.Time) ratelimit.Decision {
		ds, err := s.Admit(context.Background(), r, time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		return ds[0]
	}
	for i := range limit {
		if d := admit(start.Add(time.Duration(i) * step)); !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	full := start.Add(limit * step)
	if d := admit(full); d.Allowed || !d.Reset.Equal(start.Add(time.Minute)) {
		t.Fatalf("request over the limit: %+v", d)
	}
	// One window after the first request, each step frees exactly one slot.
	for i := range 1000 {
		now := start.Add(time.Minute + time.Duration(i)*step)
		d := admit(now)
		want := ratelimit.Decision{Allowed: true, Limit: limit, Remaining: 0, Reset: start.Add(time.Minute + time.Duration(i+1)*step)}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Fatalf("request %d after the window: (-want +got):\n%s", i, diff)
		}
	}
}

func TestMemoryStoreRejectsBadWindow(t *testing.T) {
	s := ratelimit.NewMemoryStore(nil)
	if _, err := s.Admit(context.Background(), []ratelimit.Rule{{Key: "k", Limit: 1}}, 0, time.Now()); err == nil {
		t.Fatal("Admit with a zero window succeeded")
	}
}

func TestMemoryStoreNoRules(t *testing.T) {
	ds, err := ratelimit.NewMemoryStore(nil).Admit(context.Background(), nil, time.Minute, time.Now())
	if err != nil || len(ds) != 0 {
		t.Fatalf("Admit without rules = %v, %v; want no decisions", ds, err)
	}
}
