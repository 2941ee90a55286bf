package authn_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/authn/authntest"
)

func TestMemoryNoncesContract(t *testing.T) {
	authntest.TestNonceStore(t, authn.NewMemoryNonces(nil))
}

// clock is a settable time source for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestMemoryNoncesExpiry(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1796378100, 0)}
	m := authn.NewMemoryNonces(c.now)
	use := func(key, nonce string, ttl time.Duration) bool {
		t.Helper()
		fresh, err := m.UseNonce(ctx, key, nonce, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		nonce   string
		ttl     time.Duration
		want    bool
		wantLen int
	}{
		{name: "First", key: "k", nonce: "n1", ttl: authn.NonceTTL, want: true, wantLen: 1},
		{name: "ShortTTL", key: "k", nonce: "n2", ttl: time.Second, want: true, wantLen: 2},
		// n2 has expired but waits behind the longer-lived n1 to be pruned.
		{name: "ReplayJustBeforeExpiry", advance: authn.NonceTTL - time.Nanosecond, key: "k", nonce: "n1", ttl: authn.NonceTTL, want: false, wantLen: 2},
		{name: "ExpiredShortTTLFresh", key: "k", nonce: "n2", ttl: time.Second, want: true, wantLen: 2},
		{name: "FreshAgainAtExpiry", advance: time.Nanosecond, key: "k", nonce: "n1", ttl: authn.NonceTTL, want: true, wantLen: 2},
		{name: "ReplayOfRenewed", advance: time.Minute, key: "k", nonce: "n1", ttl: authn.NonceTTL, want: false, wantLen: 1},
		{name: "OtherPruned", advance: authn.NonceTTL, key: "k", nonce: "n3", ttl: authn.NonceTTL, want: true, wantLen: 1},
	}
	for _, s := range steps {
		c.add(s.advance)
		if got := use(s.key, s.nonce, s.ttl); got != s.want {
			t.Fatalf("%s: fresh = %v, want %v", s.name, got, s.want)
		}
		if got := m.Len(); got != s.wantLen {
			t.Fatalf("%s: %d records held, want %d", s.name, got, s.wantLen)
		}
	}
	if _, err := m.UseNonce(ctx, "k", "n", 0); err == nil {
		t.Fatal("zero ttl accepted")
	}
}

// TestMemoryNoncesBounded checks that a steady stream of nonces does not grow
// the store beyond what one TTL holds.
func TestMemoryNoncesBounded(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	m := authn.NewMemoryNonces(c.now)
	for i := range 10000 {
		c.add(time.Second)
		if fresh, _ := m.UseNonce(context.Background(), "k", time.Unix(int64(i), 0).String(), 100*time.Second); !fresh {
			t.Fatalf("nonce %d not fresh", i)
		}
	}
	if n := m.Len(); n > 100 {
		t.Fatalf("%d records held, want at most 100", n)
	}
}
