package redis_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/authn/authntest"
	"github.com/patchbay-mcp/patchbay/redis"
)

func TestNonceStore(t *testing.T) {
	authntest.TestNonceStore(t, redis.NewNonceStore(newEnv(t).client(t)))
}

func TestNonceStoreTwoInstances(t *testing.T) {
	e := newEnv(t)
	stores := []*redis.NonceStore{redis.NewNonceStore(e.client(t)), redis.NewNonceStore(e.client(t))}
	const workers = 50
	var fresh atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			ok, err := stores[w%2].UseNonce(t.Context(), "key_shared", "nonce-1234567890abcdef", authn.NonceTTL)
			if err != nil {
				t.Errorf("UseNonce: %v", err)
				return
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := fresh.Load(); got != 1 {
		t.Fatalf("%d of %d uses over two instances were fresh, want exactly 1", got, workers)
	}
}

func TestNonceStoreTTL(t *testing.T) {
	e := newEnv(t)
	s := redis.NewNonceStore(e.client(t))
	raw := e.raw(t)

	t.Run("Stored", func(t *testing.T) {
		if ok, err := s.UseNonce(t.Context(), "key_a", "n-stored", authn.NonceTTL); err != nil || !ok {
			t.Fatalf("UseNonce = %v, %v", ok, err)
		}
		keys, err := raw.Keys(t.Context(), e.prefix+"pb:nonce:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("nonce keys = %v, %v; want one", keys, err)
		}
		ttl, err := raw.PTTL(t.Context(), keys[0]).Result()
		if err != nil || ttl <= authn.NonceTTL-time.Minute || ttl > authn.NonceTTL {
			t.Fatalf("PTTL = %v, %v; want about %v", ttl, err, authn.NonceTTL)
		}
	})

	t.Run("FreshAgainAfterExpiry", func(t *testing.T) {
		const ttl = 20 * time.Millisecond
		if ok, err := s.UseNonce(t.Context(), "key_b", "n-short", ttl); err != nil || !ok {
			t.Fatalf("first use = %v, %v; want fresh", ok, err)
		}
		if ok, err := s.UseNonce(t.Context(), "key_b", "n-short", ttl); err != nil || ok {
			t.Fatalf("second use = %v, %v; want reused", ok, err)
		}
		// Redis expires the record on its own clock; poll up to a bound.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, err := s.UseNonce(t.Context(), "key_b", "n-short", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the nonce never became fresh again after its TTL")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("PairsDoNotCollide", func(t *testing.T) {
		// Without the length prefix both would be "a:b:c".
		tests := []struct{ key, nonce string }{{"a:b", "c"}, {"a", "b:c"}}
		for i, tt := range tests {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				if ok, err := s.UseNonce(t.Context(), tt.key, tt.nonce, time.Minute); err != nil || !ok {
					t.Fatalf("UseNonce(%q, %q) = %v, %v; want fresh", tt.key, tt.nonce, ok, err)
				}
			})
		}
	})

	t.Run("NonPositiveTTL", func(t *testing.T) {
		if _, err := s.UseNonce(t.Context(), "key_c", "n", 0); err == nil {
			t.Fatal("UseNonce with ttl 0 succeeded")
		}
	})
}
