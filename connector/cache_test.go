package connector

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func keys(t *testing.T, c *MemoryCache, names ...string) []string {
	t.Helper()
	var present []string
	for _, k := range names {
		if _, ok, err := c.Get(context.Background(), k); err != nil {
			t.Fatal(err)
		} else if ok {
			present = append(present, k)
		}
	}
	return present
}

func TestMemoryCache(t *testing.T) {
	ctx := context.Background()
	val := func(n int) []byte { return []byte(strings.Repeat("v", n)) }
	// Each entry: 1-byte key + 72-byte value + overhead 128 = 201 bytes.
	tests := []struct {
		name string
		run  func(t *testing.T, c *MemoryCache, clk *clock) []string // returns the keys still present among a..e
	}{
		{name: "GetAfterSet", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Hour)
			got, ok, _ := c.Get(ctx, "a")
			if !ok || string(got) != string(val(72)) {
				t.Errorf("Get = %q, %v", got, ok)
			}
			return keys(t, c, "a", "b")
		}},
		{name: "TTLExpires", run: func(t *testing.T, c *MemoryCache, clk *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Minute)
			_ = c.Set(ctx, "b", val(72), time.Hour)
			clk.add(time.Minute)
			return keys(t, c, "a", "b")
		}},
		{name: "NonPositiveTTLNotStored", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Hour)
			_ = c.Set(ctx, "a", val(72), 0)
			return keys(t, c, "a")
		}},
		{name: "EvictsLeastRecentlyUsed", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Hour)
			_ = c.Set(ctx, "b", val(72), time.Hour)
			_ = c.Set(ctx, "c", val(72), time.Hour)
			_, _, _ = c.Get(ctx, "a") // a is now more recent than b
			_ = c.Set(ctx, "d", val(72), time.Hour)
			if c.Size() > 1000 {
				t.Errorf("size %d over the bound", c.Size())
			}
			return keys(t, c, "a", "b", "c", "d")
		}},
		{name: "TooLargeNotStored", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Hour)
			_ = c.Set(ctx, "b", val(2000), time.Hour)
			return keys(t, c, "a", "b")
		}},
		{name: "OverwriteReplaces", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(72), time.Hour, "g1")
			_ = c.Set(ctx, "a", val(10), time.Hour, "g2")
			_ = c.DeleteGroup(ctx, "g1") // a left g1 when overwritten
			got, _, _ := c.Get(ctx, "a")
			if len(got) != 10 {
				t.Errorf("value %q", got)
			}
			return keys(t, c, "a")
		}},
		{name: "DeleteGroup", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			_ = c.Set(ctx, "a", val(10), time.Hour, "cred1", "conn")
			_ = c.Set(ctx, "b", val(10), time.Hour, "cred2", "conn")
			_ = c.Set(ctx, "c", val(10), time.Hour, "cred1")
			_ = c.Set(ctx, "d", val(10), time.Hour)
			_ = c.DeleteGroup(ctx, "cred1")
			p := keys(t, c, "a", "b", "c", "d")
			_ = c.DeleteGroup(ctx, "conn")
			return append(p, keys(t, c, "a", "b", "c", "d")...)
		}},
		{name: "ValuesAreCopies", run: func(t *testing.T, c *MemoryCache, _ *clock) []string {
			in := []byte("abc")
			_ = c.Set(ctx, "a", in, time.Hour)
			in[0] = 'X'
			out, _, _ := c.Get(ctx, "a")
			out[1] = 'Y'
			again, _, _ := c.Get(ctx, "a")
			if string(again) != "abc" {
				t.Errorf("stored value changed: %q", again)
			}
			return keys(t, c, "a")
		}},
	}
	wants := map[string][]string{
		"GetAfterSet":             {"a"},
		"TTLExpires":              {"b"},
		"NonPositiveTTLNotStored": nil,
		"EvictsLeastRecentlyUsed": {"a", "c", "d"},
		"TooLargeNotStored":       {"a"},
		"OverwriteReplaces":       {"a"},
		"DeleteGroup":             {"b", "d", "d"},
		"ValuesAreCopies":         {"a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
			c := NewMemoryCache(3*201+100, clk.now)
			got := tt.run(t, c, clk)
			if diff := cmp.Diff(wants[tt.name], got); diff != "" {
				t.Errorf("present keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemoryCacheBookkeeping(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryCache(1<<20, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := fmt.Sprintf("k%d-%d", g, i%50)
				_ = c.Set(ctx, k, []byte("value"), time.Hour, fmt.Sprintf("g%d", i%3))
				_, _, _ = c.Get(ctx, k)
				if i%40 == 0 {
					_ = c.DeleteGroup(ctx, fmt.Sprintf("g%d", i%3))
				}
			}
		}()
	}
	wg.Wait()
	for _, g := range []string{"g0", "g1", "g2"} {
		_ = c.DeleteGroup(ctx, g)
	}
	if c.Len() != 0 || c.Size() != 0 || len(c.groups) != 0 || c.ll.Len() != 0 {
		t.Errorf("after deleting every group: len %d size %d groups %d list %d", c.Len(), c.Size(), len(c.groups), c.ll.Len())
	}
}

func TestCacheKeys(t *testing.T) {
	p := []byte(`{"limit":10}`)
	k := CacheKey("acct", "u1", "cred_x", "acme-crm", "contacts_list", p)
	distinct := []string{
		k,
		CacheKey("acct", "u2", "cred_x", "acme-crm", "contacts_list", p),
		CacheKey("acct", "u1", "", "acme-crm", "contacts_list", p),
		CacheKey("acct", "u1", "cred_x", "acme-crm", "contacts_get", p),
		CacheKey("acct", "u1", "cred_x", "acme-crm", "contacts_list", []byte(`{"limit":11}`)),
		CacheKey("acc", "tu1", "cred_x", "acme-crm", "contacts_list", p), // no ambiguity by concatenation
		CredentialGroup("acct", "u1", "cred_x", "acme-crm"),
		CredentialGroup("acct", "u1", "", "acme-crm"),
		ConnectorGroup("acct", "acme-crm"),
		ConnectorGroup("other", "acme-crm"),
	}
	seen := map[string]bool{}
	for _, s := range distinct {
		if seen[s] {
			t.Errorf("duplicate key %s", s)
		}
		seen[s] = true
		if strings.Contains(s, "acct") || strings.Contains(s, "limit") {
			t.Errorf("key %s reveals its inputs", s)
		}
	}
	if CacheKey("acct", "u1", "cred_x", "acme-crm", "contacts_list", p) != k {
		t.Error("CacheKey is not deterministic")
	}
	if CacheKey("a", "u", "", "c", "x", p) != CacheKey("a", "u", "-", "c", "x", p) {
		t.Error(`no credential must key as "-" (§10.4)`)
	}
}
