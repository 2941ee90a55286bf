package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func (s *MemoryStore) keys() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].windows)
		s.shards[i].mu.Unlock()
	}
	return n
}

func TestIdleKeysArePruned(t *testing.T) {
	s := NewMemoryStore(&MemoryOptions{Shards: 4})
	start := time.Unix(1767225600, 0)
	for i := range 100 {
		if _, err := s.Admit(context.Background(), []Rule{{Key: strconv.Itoa(i), Limit: 5}}, time.Minute, start); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.keys(); got != 100 {
		t.Fatalf("keys after 100 requests = %d", got)
	}
	// A refused request on a new key creates nothing.
	if _, err := s.Admit(context.Background(), []Rule{{Key: "zero", Limit: 0}}, time.Minute, start); err != nil {
		t.Fatal(err)
	}
	if got := s.keys(); got != 100 {
		t.Fatalf("keys after a refused request = %d, want 100", got)
	}
	// One window later, a request in each shard sweeps the idle keys away.
	later := start.Add(time.Minute)
	for i := 0; s.keys() > len(s.shards) && i < 1000; i++ {
		if _, err := s.Admit(context.Background(), []Rule{{Key: "fresh" + strconv.Itoa(i), Limit: 5}}, time.Minute, later); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.shards {
		for k := range s.shards[i].windows {
			if _, err := strconv.Atoi(k); err == nil {
				t.Fatalf("idle key %q survived a window", k)
			}
		}
	}
}

func TestLockOrder(t *testing.T) {
	tests := []struct {
		name string
		idx  []uint32
		want []uint32
	}{
		{name: "One", idx: []uint32{7}, want: []uint32{7}},
		{name: "Sorted", idx: []uint32{1, 5}, want: []uint32{1, 5}},
		{name: "Reversed", idx: []uint32{5, 1}, want: []uint32{1, 5}},
		{name: "Duplicates", idx: []uint32{3, 3, 1, 3}, want: []uint32{1, 3}},
		{name: "OverStack", idx: []uint32{9, 8, 7, 6, 5, 9, 4}, want: []uint32{4, 5, 6, 7, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]uint32(nil), tt.idx...)
			if diff := cmp.Diff(tt.want, lockOrder(tt.idx, nil)); diff != "" {
				t.Errorf("lockOrder (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(orig, tt.idx); diff != "" {
				t.Errorf("lockOrder changed its input (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOutOfOrderClock pins what happens when a request that read the clock
// earlier reaches the lock later: it is recorded at the newest timestamp, so
// the ring stays sorted and the window is only ever stricter.
func TestOutOfOrderClock(t *testing.T) {
	s := NewMemoryStore(nil)
	start := time.Unix(1767225600, 0)
	r := []Rule{{Key: "k", Limit: 2}}
	admit := func(now time.Time) Decision {
		ds, err := s.Admit(context.Background(), r, time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		return ds[0]
	}
	admit(start.Add(time.Second))
	d := admit(start) // earlier than the entry already there
	want := Decision{Allowed: true, Limit: 2, Remaining: 0, Reset: start.Add(time.Minute + time.Second)}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Fatalf("late request (-want +got):\n%s", diff)
	}
	// Both entries stay until one window after the later timestamp.
	if d := admit(start.Add(time.Minute + time.Second - time.Millisecond)); d.Allowed {
		t.Fatalf("admitted while both entries are in the window: %+v", d)
	}
	if d := admit(start.Add(time.Minute + time.Second)); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("both entries should have left the window: %+v", d)
	}
}

func TestRingShrinksAndGrows(t *testing.T) {
	w := &ring{}
	for i := range 1000 {
		w.push(int64(i), 1000)
	}
	if len(w.ts) != 1000 || w.n != 1000 {
		t.Fatalf("after 1000 pushes: cap %d, n %d; want capped at the limit", len(w.ts), w.n)
	}
	w.expire(989) // keeps 990..999
	if w.n != 10 || len(w.ts) >= 1000 {
		t.Fatalf("after expiring: cap %d, n %d", len(w.ts), w.n)
	}
	for i := 1000; i < 1100; i++ {
		w.push(int64(i), 1000)
	}
	var got []int64
	for w.n > 0 {
		got = append(got, w.oldest())
		w.expire(w.oldest())
	}
	var want []int64
	for i := int64(990); i < 1100; i++ {
		want = append(want, i)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ring content (-want +got):\n%s", diff)
	}
}
