package redis_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/redis"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/vault"
)

// newVault returns a real vault whose data keys live in a SQLite file.
func newVault(t testing.TB) *vault.Vault {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	v, err := vault.New(bytes.Repeat([]byte{7}, vault.KeySize), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func as(ctx context.Context, accountID string) context.Context {
	return patchbay.NewContext(ctx, &patchbay.Principal{AccountID: accountID, UserID: "u1"})
}

// entry is one cached response and the groups the gateway files it under.
type entry struct {
	key    string
	groups []string
}

func read(accountID, userID, credentialID, connectorID, params string) entry {
	return entry{
		key: connector.CacheKey(accountID, userID, credentialID, connectorID, "list", []byte(params)),
		groups: []string{
			connector.CredentialGroup(accountID, userID, credentialID, connectorID),
			connector.ConnectorGroup(accountID, connectorID),
		},
	}
}

func TestCache(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	ctx := as(t.Context(), "acc_1")

	set := func(t *testing.T, en entry, val string) {
		t.Helper()
		if err := cache.Set(ctx, en.key, []byte(val), time.Hour, en.groups...); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	get := func(t *testing.T, en entry) (string, bool) {
		t.Helper()
		v, ok, err := cache.Get(ctx, en.key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		return string(v), ok
	}

	crm := read("acc_1", "u1", "cred_1", "crm", `{"page":1}`)
	crm2 := read("acc_1", "u1", "cred_1", "crm", `{"page":2}`)
	crmOther := read("acc_1", "u2", "cred_2", "crm", `{"page":1}`)
	mail := read("acc_1", "u1", "cred_3", "mail", `{}`)

	tests := []struct {
		name   string
		before func(t *testing.T)
		want   map[string]string // entry name -> value; absent: miss
	}{
		{
			name:   "Miss",
			before: func(*testing.T) {},
			want:   map[string]string{},
		},
		{
			name: "Hit",
			before: func(t *testing.T) {
				set(t, crm, `{"items":[1]}`)
				set(t, crm2, `{"items":[2]}`)
				set(t, crmOther, `{"items":[3]}`)
				set(t, mail, `{"items":[4]}`)
			},
			want: map[string]string{"crm": `{"items":[1]}`, "crm2": `{"items":[2]}`, "crmOther": `{"items":[3]}`, "mail": `{"items":[4]}`},
		},
		{
			name:   "Overwrite",
			before: func(t *testing.T) { set(t, crm, `{"items":[1,1]}`) },
			want:   map[string]string{"crm": `{"items":[1,1]}`, "crm2": `{"items":[2]}`, "crmOther": `{"items":[3]}`, "mail": `{"items":[4]}`},
		},
		{
			// A write through cred_1 drops that credential's entries only.
			name: "DeleteCredentialGroup",
			before: func(t *testing.T) {
				if err := cache.DeleteGroup(ctx, crm.groups[0]); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]string{"crmOther": `{"items":[3]}`, "mail": `{"items":[4]}`},
		},
		{
			// Updating the connector drops all of its entries in the account.
			name: "DeleteConnectorGroup",
			before: func(t *testing.T) {
				set(t, crm, `{"items":[1]}`)
				if err := cache.DeleteGroup(ctx, crm.groups[1]); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]string{"mail": `{"items":[4]}`},
		},
		{
			name: "DeleteEmptyGroup",
			before: func(t *testing.T) {
				if err := cache.DeleteGroup(ctx, "patchbay:cache:cred:nothing"); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]string{"mail": `{"items":[4]}`},
		},
		{
			name: "NonPositiveTTLDropsTheValue",
			before: func(t *testing.T) {
				if err := cache.Set(ctx, mail.key, []byte("x"), 0, mail.groups...); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]string{},
		},
	}
	entries := map[string]entry{"crm": crm, "crm2": crm2, "crmOther": crmOther, "mail": mail}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before(t)
			got := map[string]string{}
			for name, en := range entries {
				if v, ok := get(t, en); ok {
					got[name] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("cache content (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCacheEncryptionAtRest(t *testing.T) {
	e := newEnv(t)
	v := newVault(t)
	cache := redis.NewCache(e.client(t), v)
	raw := e.raw(t)
	en := read("acc_1", "u1", "cred_1", "crm", `{}`)
	const secretish = `{"customer":"Ada Lovelace","email":"ada@example.com"}`
	if err := cache.Set(as(t.Context(), "acc_1"), en.key, []byte(secretish), time.Hour, en.groups...); err != nil {
		t.Fatal(err)
	}
	stored, err := raw.Get(t.Context(), e.prefix+en.key).Bytes()
	if err != nil {
		t.Fatalf("raw GET: %v", err)
	}
	for _, part := range []string{secretish, "Ada Lovelace", "ada@example.com"} {
		if bytes.Contains(stored, []byte(part)) {
			t.Fatalf("Redis holds %q in plaintext", part)
		}
	}
	// It is a vault record bound to the account and the record ID of §14:
	// hex SHA-256 of the cache key.
	pt, err := v.Open(t.Context(), "acc_1", sha256Hex(en.key), stored)
	if err != nil || string(pt) != secretish {
		t.Fatalf("vault.Open of the stored value = %q, %v", pt, err)
	}
	// Entries and groups expire.
	for _, k := range append([]string{en.key}, en.groups...) {
		ttl, err := raw.PTTL(t.Context(), e.prefix+k).Result()
		if err != nil || ttl <= 59*time.Minute || ttl > time.Hour+time.Second {
			t.Fatalf("PTTL(%s) = %v, %v; want about 1h", k, ttl, err)
		}
	}
}

func TestCacheValuesThatDoNotOpenAreMisses(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	raw := e.raw(t)
	en := read("acc_1", "u1", "cred_1", "crm", `{}`)
	other := read("acc_1", "u1", "cred_1", "crm", `{"other":true}`)

	tests := []struct {
		name    string
		prepare func(t *testing.T)
		ctx     context.Context
		key     string
	}{
		{
			name:    "OtherAccount",
			prepare: func(t *testing.T) { mustSet(t, cache, as(t.Context(), "acc_1"), en, "v") },
			ctx:     as(t.Context(), "acc_2"),
			key:     en.key,
		},
		{
			// A ciphertext copied under another key fails its record ID.
			name: "CopiedToAnotherKey",
			prepare: func(t *testing.T) {
				mustSet(t, cache, as(t.Context(), "acc_1"), en, "v")
				b, err := raw.Get(t.Context(), e.prefix+en.key).Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if err := raw.Set(t.Context(), e.prefix+other.key, b, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			},
			ctx: as(t.Context(), "acc_1"),
			key: other.key,
		},
		{
			name: "Tampered",
			prepare: func(t *testing.T) {
				if err := raw.Set(t.Context(), e.prefix+en.key, "\x01garbage-not-a-record", time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			},
			ctx: as(t.Context(), "acc_1"),
			key: en.key,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.prepare(t)
			v, ok, err := cache.Get(tt.ctx, tt.key)
			if err != nil || ok || v != nil {
				t.Fatalf("Get = %q, %v, %v; want a plain miss", v, ok, err)
			}
			if n, err := raw.Exists(t.Context(), e.prefix+tt.key).Result(); err != nil || n != 0 {
				t.Fatalf("the value that failed to open is still stored (%d, %v)", n, err)
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustSet(t *testing.T, c *redis.Cache, ctx context.Context, en entry, val string) {
	t.Helper()
	if err := c.Set(ctx, en.key, []byte(val), time.Hour, en.groups...); err != nil {
		t.Fatal(err)
	}
}

func TestCacheAccount(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	en := read("acc_1", "u1", "cred_1", "crm", `{}`)

	t.Run("NoPrincipal", func(t *testing.T) {
		if _, _, err := cache.Get(t.Context(), en.key); err == nil {
			t.Fatal("Get without a principal succeeded")
		}
		if err := cache.Set(t.Context(), en.key, []byte("v"), time.Hour); err == nil {
			t.Fatal("Set without a principal succeeded")
		}
		if err := cache.DeleteGroup(t.Context(), en.groups[0]); err != nil {
			t.Fatalf("DeleteGroup needs no principal: %v", err)
		}
	})

	t.Run("ForAccountMatchesPrincipal", func(t *testing.T) {
		bound := cache.ForAccount("acc_1")
		if err := bound.Set(t.Context(), en.key, []byte("v1"), time.Hour, en.groups...); err != nil {
			t.Fatal(err)
		}
		v, ok, err := cache.Get(as(t.Context(), "acc_1"), en.key)
		if err != nil || !ok || string(v) != "v1" {
			t.Fatalf("Get via principal = %q, %v, %v", v, ok, err)
		}
		if err := bound.DeleteGroup(t.Context(), en.groups[1]); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := bound.Get(t.Context(), en.key); err != nil || ok {
			t.Fatalf("Get after DeleteGroup = %v, %v; want a miss", ok, err)
		}
	})
}

func TestCacheTwoInstances(t *testing.T) {
	e := newEnv(t)
	v := newVault(t)
	a, b := redis.NewCache(e.client(t), v), redis.NewCache(e.client(t), v)
	ctx := as(t.Context(), "acc_1")
	en := read("acc_1", "u1", "cred_1", "crm", `{}`)
	mustSet(t, a, ctx, en, "shared")
	if got, ok, err := b.Get(ctx, en.key); err != nil || !ok || string(got) != "shared" {
		t.Fatalf("other instance Get = %q, %v, %v", got, ok, err)
	}
	if err := b.DeleteGroup(ctx, en.groups[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Get(ctx, en.key); err != nil || ok {
		t.Fatalf("Get after the other instance's DeleteGroup = %v, %v; want a miss", ok, err)
	}
}

// TestCacheGroupsDoNotLeak keeps refreshing one group with short-lived
// entries: members whose entries expired are pruned, so the group holds
// only live ones, and everything expires in the end.
func TestCacheGroupsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	raw := e.raw(t)
	ctx := as(t.Context(), "acc_1")
	group := connector.ConnectorGroup("acc_1", "crm")
	for i := range 20 {
		en := read("acc_1", "u1", "cred_1", "crm", string(rune('a'+i)))
		if err := cache.Set(ctx, en.key, []byte("v"), 10*time.Millisecond, group); err != nil {
			t.Fatal(err)
		}
	}
	last := read("acc_1", "u1", "cred_1", "crm", "last")
	// Members are kept one second past their entry's expiry; poll until
	// pruning has removed all but the newest.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := cache.Set(ctx, last.key, []byte("v"), time.Minute, group); err != nil {
			t.Fatal(err)
		}
		n, err := raw.ZCard(t.Context(), e.prefix+group).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group still holds %d members 5s after 20 of them expired", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCacheDeleteLargeGroup(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	raw := e.raw(t)
	ctx := as(t.Context(), "acc_1")
	group := connector.ConnectorGroup("acc_1", "crm")
	const n = 1234 // more than one DEL batch in the script
	for i := range n {
		en := read("acc_1", "u1", "cred_1", "crm", string(rune(0x4e00+i)))
		if err := cache.Set(ctx, en.key, []byte("v"), time.Hour, group); err != nil {
			t.Fatal(err)
		}
	}
	if err := cache.DeleteGroup(ctx, group); err != nil {
		t.Fatal(err)
	}
	keys, err := raw.Keys(t.Context(), e.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("%d keys left after deleting the group, e.g. %q", len(keys), keys[0])
	}
}

func TestCacheErrors(t *testing.T) {
	e := newEnv(t)
	cache := redis.NewCache(e.client(t), newVault(t))
	ctx := as(t.Context(), "acc_1")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := cache.Get(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled ctx: %v", err)
	}
}
