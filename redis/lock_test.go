package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/redis"
)

// TestLockerMutualExclusion has 50 goroutines on two instances take one
// lock: every one gets it, and never two at once.
func TestLockerMutualExclusion(t *testing.T) {
	e := newEnv(t)
	lockers := []*redis.Locker{redis.NewLocker(e.client(t)), redis.NewLocker(e.client(t))}
	const goroutines = 50
	var holders, maxHolders, acquired atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			unlock, err := lockers[g%2].Lock(t.Context(), "pb:lock:refresh:cred_1", 30*time.Second)
			if err != nil {
				t.Errorf("Lock: %v", err)
				return
			}
			n := holders.Add(1)
			for {
				m := maxHolders.Load()
				if n <= m || maxHolders.CompareAndSwap(m, n) {
					break
				}
			}
			acquired.Add(1)
			time.Sleep(time.Millisecond) // hold it long enough for others to try
			holders.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if got := acquired.Load(); got != goroutines {
		t.Fatalf("%d of %d goroutines acquired the lock", got, goroutines)
	}
	if got := maxHolders.Load(); got != 1 {
		t.Fatalf("up to %d goroutines held the lock at once, want 1", got)
	}
}

func TestLocker(t *testing.T) {
	e := newEnv(t)
	l := redis.NewLocker(e.client(t))
	raw := e.raw(t)

	t.Run("TTLAndRelease", func(t *testing.T) {
		unlock, err := l.Lock(t.Context(), "lock:a", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ttl, err := raw.PTTL(t.Context(), e.prefix+"lock:a").Result()
		if err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
			t.Fatalf("PTTL = %v, %v; want about 30s", ttl, err)
		}
		unlock()
		unlock() // a second call is harmless
		if n, err := raw.Exists(t.Context(), e.prefix+"lock:a").Result(); err != nil || n != 0 {
			t.Fatalf("lock key still exists after unlock (%d, %v)", n, err)
		}
	})

	t.Run("WaiterGivesUpWithContext", func(t *testing.T) {
		unlock, err := l.Lock(t.Context(), "lock:b", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := l.Lock(ctx, "lock:b", 30*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock on a held lock: err = %v, want context.DeadlineExceeded", err)
		}
		if errors.Is(err, redis.ErrUnavailable) {
			t.Fatalf("a timed-out wait is not an outage: %v", err)
		}
	})

	t.Run("ExpiredHolderDoesNotReleaseNextHolder", func(t *testing.T) {
		unlockFirst, err := l.Lock(t.Context(), "lock:c", 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		// The second caller waits until the first one's TTL frees the lock.
		unlockSecond, err := l.Lock(t.Context(), "lock:c", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		unlockFirst() // too late: must not free the second holder's lock
		if n, err := raw.Exists(t.Context(), e.prefix+"lock:c").Result(); err != nil || n != 1 {
			t.Fatalf("the stale unlock released the current holder's lock (%d, %v)", n, err)
		}
		unlockSecond()
		if n, err := raw.Exists(t.Context(), e.prefix+"lock:c").Result(); err != nil || n != 0 {
			t.Fatalf("lock key still exists after the holder's unlock (%d, %v)", n, err)
		}
	})

	t.Run("NonPositiveTTL", func(t *testing.T) {
		if _, err := l.Lock(t.Context(), "lock:d", 0); err == nil {
			t.Fatal("Lock with ttl 0 succeeded")
		}
	})
}
