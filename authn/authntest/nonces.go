package authntest

import (
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/ids"
)

// TestNonceStore checks the NonceStore contract of §4.6 against s: a
// (keyID, nonce) pair is fresh exactly once within its TTL, pairs are
// independent of each other, and of many concurrent uses of one pair exactly
// one is fresh. Expiry needs a controllable clock, so each implementation
// tests it separately. Key IDs are random, so the suite may run repeatedly
// against a shared database or Redis.
func TestNonceStore(t *testing.T, s authn.NonceStore) {
	t.Helper()
	const ttl = authn.NonceTTL
	newKey := func() string { return "key_" + ids.Base62(nil, 16) }
	newNonce := func() string { return ids.Base62(nil, 24) }

	use := func(t *testing.T, keyID, nonce string) bool {
		t.Helper()
		fresh, err := s.UseNonce(t.Context(), keyID, nonce, ttl)
		if err != nil {
			t.Fatalf("UseNonce(%q, %q): %v", keyID, nonce, err)
		}
		return fresh
	}

	t.Run("FreshOnce", func(t *testing.T) {
		k, n := newKey(), newNonce()
		if !use(t, k, n) {
			t.Fatal("first use: want fresh")
		}
		for i := range 3 {
			if use(t, k, n) {
				t.Fatalf("use %d: want reused", i+2)
			}
		}
	})

	t.Run("PairsAreIndependent", func(t *testing.T) {
		k1, k2, n1, n2 := newKey(), newKey(), newNonce(), newNonce()
		tests := []struct {
			name       string
			key, nonce string
			want       bool
		}{
			{name: "K1N1", key: k1, nonce: n1, want: true},
			{name: "K1N2", key: k1, nonce: n2, want: true},
			{name: "K2N1", key: k2, nonce: n1, want: true},
			{name: "K1N1Again", key: k1, nonce: n1, want: false},
			{name: "K2N1Again", key: k2, nonce: n1, want: false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := use(t, tt.key, tt.nonce); got != tt.want {
					t.Fatalf("fresh = %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("ConcurrentUsesOneFresh", func(t *testing.T) {
		const workers = 50
		k, n := newKey(), newNonce()
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make(chan bool, workers)
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				<-start
				fresh, err := s.UseNonce(t.Context(), k, n, ttl)
				if err != nil {
					errs <- err
					return
				}
				results <- fresh
			})
		}
		close(start)
		wg.Wait()
		close(results)
		close(errs)
		for err := range errs {
			t.Fatalf("UseNonce: %v", err)
		}
		fresh := 0
		for r := range results {
			if r {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d of %d concurrent uses were fresh, want exactly 1", fresh, workers)
		}
	})

	t.Run("OtherTTL", func(t *testing.T) {
		// TTLs other than the default must be honoured as well; a minute is
		// far longer than the two calls take.
		k, n := newKey(), newNonce()
		if fresh, err := s.UseNonce(t.Context(), k, n, time.Minute); err != nil || !fresh {
			t.Fatalf("first use: fresh=%v err=%v, want fresh", fresh, err)
		}
		if fresh, err := s.UseNonce(t.Context(), k, n, time.Minute); err != nil || fresh {
			t.Fatalf("second use: fresh=%v err=%v, want reused", fresh, err)
		}
	})
}
