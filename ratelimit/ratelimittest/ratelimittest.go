package ratelimittest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/ratelimit"
)

// baseUnix is an arbitrary whole second; every time in the suite is that
// instant plus whole milliseconds.
const baseUnix = 1767225600

const window = 10 * time.Second

func at(d time.Duration) time.Time { return time.Unix(baseUnix, 0).Add(d) }

// TestStore runs the contract suite against stores made by newStore.
func TestStore(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s ratelimit.Store, key func(string) string)
	}{
		{"Exactness", testExactness},
		{"RefusedRequestsDoNotCount", testRefusedRequestsDoNotCount},
		{"OnlyRequestResetsOneWindowLater", testOnlyRequest},
		{"TwoRulesAllOrNothing", testTwoRules},
		{"SameKeyInTwoRulesCountsOnce", testSameKey},
		{"KeysAreIndependent", testIndependentKeys},
		{"LimitChange", testLimitChange},
		{"ZeroLimitRefuses", testZeroLimit},
		{"MatchesReferenceModel", testModel},
		{"ConcurrentAdmitsExactlyN", testConcurrent},
		{"ConcurrentTwoRules", testConcurrentTwoRules},
		{"CanceledContext", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := t.Name() + "/"
			tt.run(t, newStore(t), func(k string) string { return prefix + k })
		})
	}
}

func admit(t *testing.T, s ratelimit.Store, now time.Time, rules ...ratelimit.Rule) []ratelimit.Decision {
	t.Helper()
	ds, err := s.Admit(context.Background(), rules, window, now)
	if err != nil {
		t.Fatalf("Admit at +%v: %v", now.Sub(at(0)), err)
	}
	return ds
}

// step is one request at at(at) and the decisions it must get.
type step struct {
	at    time.Duration
	rules []ratelimit.Rule
	want  []ratelimit.Decision
}

func runSteps(t *testing.T, s ratelimit.Store, steps []step) {
	t.Helper()
	for i, st := range steps {
		got := admit(t, s, at(st.at), st.rules...)
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Fatalf("step %d (request at +%v): decisions mismatch (-want +got):\n%s", i, st.at, diff)
		}
	}
}

func ok(limit, remaining int, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, Limit: limit, Remaining: remaining, Reset: at(reset)}
}

func refused(limit, remaining int, reset, now time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Limit: limit, Remaining: remaining, Reset: at(reset), RetryAfter: reset - now}
}

func one(d ratelimit.Decision) []ratelimit.Decision { return []ratelimit.Decision{d} }

const ms = time.Millisecond
const sec = time.Second

func testExactness(t *testing.T, s ratelimit.Store, key func(string) string) {
	r := []ratelimit.Rule{{Key: key("k"), Limit: 3}}
	runSteps(t, s, []step{
		{0, r, one(ok(3, 2, 10*sec))},
		{1 * sec, r, one(ok(3, 1, 10*sec))},
		{2 * sec, r, one(ok(3, 0, 10*sec))},
		{3 * sec, r, one(refused(3, 0, 10*sec, 3*sec))},
		{10*sec - ms, r, one(refused(3, 0, 10*sec, 10*sec-ms))},
		// The request at +0 leaves the window exactly one window later.
		{10 * sec, r, one(ok(3, 0, 11*sec))},
		{10*sec + 500*ms, r, one(refused(3, 0, 11*sec, 10*sec+500*ms))},
		{11 * sec, r, one(ok(3, 0, 12*sec))},
		{11 * sec, r, one(refused(3, 0, 12*sec, 11*sec))},
		// After a quiet window everything has left.
		{40 * sec, r, one(ok(3, 2, 50*sec))},
	})
}

func testRefusedRequestsDoNotCount(t *testing.T, s ratelimit.Store, key func(string) string) {
	r := []ratelimit.Rule{{Key: key("k"), Limit: 2}}
	runSteps(t, s, []step{{0, r, one(ok(2, 1, 10*sec))}, {1 * sec, r, one(ok(2, 0, 10*sec))}})
	for i := range 50 {
		now := 2*sec + time.Duration(i)*100*ms
		runSteps(t, s, []step{{now, r, one(refused(2, 0, 10*sec, now))}})
	}
	// Had any refusal been counted, the window would still be full.
	runSteps(t, s, []step{{10 * sec, r, one(ok(2, 0, 11*sec))}})
}

func testOnlyRequest(t *testing.T, s ratelimit.Store, key func(string) string) {
	runSteps(t, s, []step{
		{123 * ms, []ratelimit.Rule{{Key: key("k"), Limit: 100}}, one(ok(100, 99, 10*sec+123*ms))},
		{777 * ms, []ratelimit.Rule{{Key: key("k2"), Limit: 1}}, one(ok(1, 0, 10*sec+777*ms))},
	})
}

func testTwoRules(t *testing.T, s ratelimit.Store, key func(string) string) {
	user, agg := key("user"), key("aggregate")
	both := []ratelimit.Rule{{Key: user, Limit: 5}, {Key: agg, Limit: 2}}
	runSteps(t, s, []step{
		{0, both, []ratelimit.Decision{ok(5, 4, 10*sec), ok(2, 1, 10*sec)}},
		{1 * sec, both, []ratelimit.Decision{ok(5, 3, 10*sec), ok(2, 0, 10*sec)}},
		// The aggregate refuses: the user window had room but counts nothing.
		{2 * sec, both, []ratelimit.Decision{ok(5, 3, 10*sec), refused(2, 0, 10*sec, 2*sec)}},
		{3 * sec, both, []ratelimit.Decision{ok(5, 3, 10*sec), refused(2, 0, 10*sec, 3*sec)}},
		// Only the two admitted requests are in the user window.
		{4 * sec, []ratelimit.Rule{{Key: user, Limit: 5}}, one(ok(5, 2, 10*sec))},
	})

	// The other way round: the first rule refuses, the second counts nothing.
	user2, agg2 := key("user2"), key("aggregate2")
	both2 := []ratelimit.Rule{{Key: user2, Limit: 1}, {Key: agg2, Limit: 10}}
	runSteps(t, s, []step{
		{0, both2, []ratelimit.Decision{ok(1, 0, 10*sec), ok(10, 9, 10*sec)}},
		{1 * sec, both2, []ratelimit.Decision{refused(1, 0, 10*sec, 1*sec), ok(10, 9, 10*sec)}},
		{2 * sec, []ratelimit.Rule{{Key: agg2, Limit: 10}}, one(ok(10, 8, 10*sec))},
	})
}

func testSameKey(t *testing.T, s ratelimit.Store, key func(string) string) {
	k := key("k")
	r := []ratelimit.Rule{{Key: k, Limit: 3}, {Key: k, Limit: 2}}
	runSteps(t, s, []step{
		{0, r, []ratelimit.Decision{ok(3, 2, 10*sec), ok(2, 1, 10*sec)}},
		{1 * sec, r, []ratelimit.Decision{ok(3, 1, 10*sec), ok(2, 0, 10*sec)}},
		{2 * sec, r, []ratelimit.Decision{ok(3, 1, 10*sec), refused(2, 0, 10*sec, 2*sec)}},
		{3 * sec, []ratelimit.Rule{{Key: k, Limit: 3}}, one(ok(3, 0, 10*sec))},
	})
}

func testIndependentKeys(t *testing.T, s ratelimit.Store, key func(string) string) {
	a, b, upper := key("a"), key("b"), key("A")
	runSteps(t, s, []step{
		{0, []ratelimit.Rule{{Key: a, Limit: 1}}, one(ok(1, 0, 10*sec))},
		{1 * sec, []ratelimit.Rule{{Key: b, Limit: 1}}, one(ok(1, 0, 11*sec))},
		{2 * sec, []ratelimit.Rule{{Key: upper, Limit: 1}}, one(ok(1, 0, 12*sec))},
		{3 * sec, []ratelimit.Rule{{Key: a, Limit: 1}}, one(refused(1, 0, 10*sec, 3*sec))},
		{4 * sec, []ratelimit.Rule{{Key: b, Limit: 1}}, one(refused(1, 0, 11*sec, 4*sec))},
		{5 * sec, []ratelimit.Rule{{Key: upper, Limit: 1}}, one(refused(1, 0, 12*sec, 5*sec))},
		{6 * sec, []ratelimit.Rule{{Key: key("c"), Limit: 1}}, one(ok(1, 0, 16*sec))},
	})
}

func testLimitChange(t *testing.T, s ratelimit.Store, key func(string) string) {
	k := key("k")
	lim := func(n int) []ratelimit.Rule { return []ratelimit.Rule{{Key: k, Limit: n}} }
	var steps []step
	for i := range 5 {
		steps = append(steps, step{time.Duration(i) * sec, lim(5), one(ok(5, 4-i, 10*sec))})
	}
	steps = append(steps,
		// Lowered: the kept window content refuses at once.
		step{5 * sec, lim(3), one(refused(3, 0, 10*sec, 5*sec))},
		// Raised: room again.
		step{6 * sec, lim(7), one(ok(7, 1, 10*sec))},
		step{7 * sec, lim(5), one(refused(5, 0, 10*sec, 7*sec))},
		// At +12s the window holds +3s, +4s and +6s: still full for 3.
		step{12 * sec, lim(3), one(refused(3, 0, 13*sec, 12*sec))},
		step{13 * sec, lim(3), one(ok(3, 0, 14*sec))},
	)
	runSteps(t, s, steps)
}

func testZeroLimit(t *testing.T, s ratelimit.Store, key func(string) string) {
	runSteps(t, s, []step{
		{0, []ratelimit.Rule{{Key: key("k"), Limit: 0}}, one(refused(0, 0, 10*sec, 0))},
		{1 * sec, []ratelimit.Rule{{Key: key("k"), Limit: 1}}, one(ok(1, 0, 11*sec))},
	})
}

// testModel replays a long irregular schedule, with limit changes and bursts
// at one instant, against a direct transcription of §9.
func testModel(t *testing.T, s ratelimit.Store, key func(string) string) {
	k := key("k")
	rng := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Duration // the model's window content
	now := time.Duration(0)
	for i := range 1500 {
		if rng.IntN(4) > 0 { // a quarter of the requests arrive at the same instant as the last
			now += time.Duration(rng.IntN(40)) * ms
		}
		limit := 40
		switch {
		case i >= 500 && i < 900:
			limit = 25
		case i >= 900:
			limit = 60
		}
		for len(admitted) > 0 && admitted[0] <= now-window {
			admitted = admitted[1:]
		}
		var want ratelimit.Decision
		if len(admitted) < limit {
			admitted = append(admitted, now)
			want = ok(limit, limit-len(admitted), admitted[0]+window)
		} else {
			want = refused(limit, 0, admitted[0]+window, now)
		}
		got := admit(t, s, at(now), ratelimit.Rule{Key: k, Limit: limit})
		if diff := cmp.Diff(one(want), got); diff != "" {
			t.Fatalf("request %d at +%v: decision mismatch (-want +got):\n%s", i, now, diff)
		}
	}
}

func testConcurrent(t *testing.T, s ratelimit.Store, key func(string) string) {
	const goroutines, attempts, limit = 50, 4, 25
	r := []ratelimit.Rule{{Key: key("k"), Limit: limit}}
	var (
		mu        sync.Mutex
		remaining []int
		wg        sync.WaitGroup
		errs      = make(chan error, goroutines)
	)
	for range goroutines {
		wg.Go(func() {
			for range attempts {
				ds, err := s.Admit(context.Background(), r, window, at(sec))
				if err != nil {
					errs <- err
					return
				}
				if ds[0].Allowed {
					mu.Lock()
					remaining = append(remaining, ds[0].Remaining)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Admit: %v", err)
	}
	// Exactly N admitted, each seeing a different count: no two requests
	// were decided on the same state.
	slices.Sort(remaining)
	want := make([]int, limit)
	for i := range want {
		want[i] = i
	}
	if diff := cmp.Diff(want, remaining); diff != "" {
		t.Fatalf("Remaining of admitted requests (-want +got):\n%s", diff)
	}
	runSteps(t, s, []step{{2 * sec, r, one(refused(limit, 0, 11*sec, 2*sec))}})
}

func testConcurrentTwoRules(t *testing.T, s ratelimit.Store, key func(string) string) {
	const goroutines, attempts, userLimit, aggLimit = 50, 4, 3, 40
	agg := key("aggregate")
	counts := make([]int, goroutines)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			r := []ratelimit.Rule{{Key: key("user" + strconv.Itoa(g)), Limit: userLimit}, {Key: agg, Limit: aggLimit}}
			for range attempts {
				ds, err := s.Admit(context.Background(), r, window, at(sec))
				if err != nil {
					errs <- err
					return
				}
				if ds[0].Allowed && ds[1].Allowed {
					counts[g]++
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Admit: %v", err)
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != aggLimit {
		t.Fatalf("admitted %d requests under an aggregate limit of %d", total, aggLimit)
	}
	// Each user window holds exactly that user's admitted requests: refusals
	// by the aggregate were counted nowhere.
	for g, c := range counts {
		if c > userLimit {
			t.Fatalf("user %d: admitted %d, limit %d", g, c, userLimit)
		}
		r := []ratelimit.Rule{{Key: key("user" + strconv.Itoa(g)), Limit: userLimit}}
		want := ok(userLimit, userLimit-c-1, 11*sec)
		if c == 0 {
			want.Reset = at(12 * sec)
		}
		if c == userLimit {
			want = refused(userLimit, 0, 11*sec, 2*sec)
		}
		runSteps(t, s, []step{{2 * sec, r, one(want)}})
	}
}

func testCanceled(t *testing.T, s ratelimit.Store, key func(string) string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Admit(ctx, []ratelimit.Rule{{Key: key("k"), Limit: 1}}, window, at(0))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit with a canceled context: err = %v, want context.Canceled", err)
	}
	// Nothing was counted.
	runSteps(t, s, []step{{0, []ratelimit.Rule{{Key: key("k"), Limit: 1}}, one(ok(1, 0, 10*sec))}})
}
