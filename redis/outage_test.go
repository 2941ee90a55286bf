package redis_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/internal/testenv"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/redis"
)

// op is one call of every kind the package offers, on one Client.
type op struct {
	name string
	call func(ctx context.Context) error
}

func allOps(t *testing.T, c *redis.Client) []op {
	t.Helper()
	rate := redis.NewRateStore(c)
	nonces := redis.NewNonceStore(c)
	cache := redis.NewCache(c, newVault(t))
	locker := redis.NewLocker(c)
	notifier := redis.NewNotifier(c, nil)
	en := read("acc_1", "u1", "cred_1", "crm", `{}`)
	var seq atomic.Int64
	return []op{
		{"Ping", c.Ping},
		{"Admit", func(ctx context.Context) error {
			_, err := rate.Admit(ctx, []ratelimit.Rule{{Key: "k", Limit: 1000}}, time.Minute, time.Now())
			return err
		}},
		{"UseNonce", func(ctx context.Context) error {
			_, err := nonces.UseNonce(ctx, "key_1", "nonce-"+strconv.FormatInt(seq.Add(1), 10), time.Minute)
			return err
		}},
		{"CacheSet", func(ctx context.Context) error {
			return cache.Set(as(ctx, "acc_1"), en.key, []byte("v"), time.Hour, en.groups...)
		}},
		{"CacheGet", func(ctx context.Context) error {
			_, _, err := cache.Get(as(ctx, "acc_1"), en.key)
			return err
		}},
		{"CacheDeleteGroup", func(ctx context.Context) error {
			return cache.DeleteGroup(ctx, connector.ConnectorGroup("acc_1", "other"))
		}},
		{"Lock", func(ctx context.Context) error {
			unlock, err := locker.Lock(ctx, "pb:lock:refresh:cred_"+strconv.FormatInt(seq.Add(1), 10), 30*time.Second)
			if err == nil {
				unlock()
			}
			return err
		}},
		{"Publish", func(ctx context.Context) error {
			return notifier.Publish(ctx, redis.Change{Kind: redis.KindServer, ID: "srv_probe"})
		}},
		{"Subscribe", func(ctx context.Context) error {
			return notifier.Subscribe(ctx, func(redis.Change) {})
		}},
	}
}

func runOps(t *testing.T, ops []op, check func(t *testing.T, err error)) {
	t.Helper()
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			start := time.Now()
			err := o.call(t.Context())
			t.Logf("%s returned after %v: %v", o.name, time.Since(start).Round(time.Millisecond), err)
			check(t, err)
		})
	}
}

func succeeds(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v, want success", err)
	}
}

// waitFor polls cond up to the recovery bound of the brief (5 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutage stops redis-server under two live Clients: every call fails
// with ErrUnavailable instead of blocking; after the restart the same
// Clients work again and the subscriber hears notices again.
func TestOutage(t *testing.T) {
	srv := testenv.RedisServer(t)
	prefix := newPrefix(t)
	a := openClient(t, srv.URL(), &redis.Options{Prefix: prefix})
	b := openClient(t, srv.URL(), &redis.Options{Prefix: prefix})
	ops := allOps(t, a)
	pub, sub := redis.NewNotifier(a, nil), redis.NewNotifier(b, nil)
	heard := subscribe(t, sub)

	t.Run("Before", func(t *testing.T) { runOps(t, ops, succeeds) })

	srv.Stop()
	t.Run("Down", func(t *testing.T) {
		runOps(t, ops, wantUnavailable)
		t.Run("Open", func(t *testing.T) {
			_, err := redis.Open(t.Context(), srv.URL(), nil)
			wantUnavailable(t, err)
		})
	})

	srv.Start()
	waitFor(t, "Ping after the restart", func() bool { return a.Ping(t.Context()) == nil })
	t.Run("After", func(t *testing.T) { runOps(t, ops, succeeds) })

	t.Run("SubscriberResumes", func(t *testing.T) {
		// The subscription comes back on its own; until it has, notices are
		// lost, so publish until one arrives.
		want := redis.Change{Kind: redis.KindServer, ID: "srv_after_restart", Version: 2}
		var resynced bool
		waitFor(t, "a notice after the restart", func() bool {
			if err := pub.Publish(t.Context(), want); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			for {
				select {
				case c := <-heard:
					if c.Kind == redis.KindResync {
						resynced = true
						continue
					}
					if c == want {
						return true
					}
				case <-time.After(50 * time.Millisecond):
					return false
				}
			}
		})
		if !resynced {
			t.Fatal("no KindResync change before the first notice after the restart")
		}
	})
}

// TestHungRedisTimesOut freezes redis-server: connections stay open but
// nothing answers, so only the read timeout ends each call.
func TestHungRedisTimesOut(t *testing.T) {
	srv := testenv.RedisServer(t)
	c := openClient(t, srv.URL(), &redis.Options{Prefix: newPrefix(t), ReadTimeout: 100 * time.Millisecond})
	ops := allOps(t, c)[:3] // Ping, Admit, UseNonce
	runOps(t, ops, succeeds)

	srv.Pause()
	t.Run("Paused", func(t *testing.T) { runOps(t, ops, wantUnavailable) })
	srv.Resume()
	waitFor(t, "Ping after resuming", func() bool { return c.Ping(t.Context()) == nil })
	t.Run("Resumed", func(t *testing.T) { runOps(t, ops, succeeds) })
}
