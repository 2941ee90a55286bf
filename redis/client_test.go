package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/internal/testenv"
	"github.com/patchbay-mcp/patchbay/redis"
)

// env is one test's Redis: a URL and a key prefix of its own, so tests stay
// apart also on a shared PATCHBAY_TEST_REDIS_URL and on pub/sub channels,
// which logical databases do not separate.
type env struct {
	url    string
	prefix string
}

func newEnv(t testing.TB) env {
	t.Helper()
	return env{url: testenv.Redis(t), prefix: newPrefix(t)}
}

func newPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

// client opens a Client, one "instance", closed when t ends.
func (e env) client(t testing.TB) *redis.Client {
	t.Helper()
	return openClient(t, e.url, &redis.Options{Prefix: e.prefix})
}

func openClient(t testing.TB, url string, opts *redis.Options) *redis.Client {
	t.Helper()
	c, err := redis.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// raw returns a plain go-redis client on the same database, for looking at
// what the package stored.
func (e env) raw(t testing.TB) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(e.url)
	if err != nil {
		t.Fatal(err)
	}
	r := goredis.NewClient(o)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, redis.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping ErrUnavailable", err)
	}
	if code := patchbay.ErrorCode(err); code != patchbay.EUnavailable {
		t.Fatalf("ErrorCode(err) = %q, want %q", code, patchbay.EUnavailable)
	}
}

func TestOpen(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	tests := []struct {
		name        string
		url         string
		unavailable bool
	}{
		{name: "BadScheme", url: "http://127.0.0.1:6379/0"},
		{name: "BadDatabase", url: "redis://127.0.0.1:6379/x"},
		{name: "UnknownOption", url: "redis://127.0.0.1:6379/0?colour=blue"},
		// Port 1 on loopback refuses at once.
		{name: "Unreachable", url: "redis://:s3cret-pass@127.0.0.1:1/0", unavailable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redis.Open(t.Context(), tt.url, nil)
			if err == nil {
				_ = c.Close()
				t.Fatal("Open succeeded")
			}
			if got := errors.Is(err, redis.ErrUnavailable); got != tt.unavailable {
				t.Fatalf("errors.Is(err, ErrUnavailable) = %v, want %v (err: %v)", got, tt.unavailable, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	e := newEnv(t)
	// The test server has no password, so AUTH is refused: the dependency
	// is unusable, which callers must see as unavailable, without the
	// secret in the message.
	url := strings.Replace(e.url, "redis://", "redis://someone:s3cret-pass@", 1)
	_, err := redis.Open(t.Context(), url, nil)
	if err == nil {
		t.Skip("this Redis accepts any user; nothing to check")
	}
	wantUnavailable(t, err)
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error reveals the password: %v", err)
	}
}

func TestCanceledContextIsNotUnavailable(t *testing.T) {
	c := newEnv(t).client(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Ping(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrUnavailable) {
		t.Fatalf("Ping with a canceled context: %v; want context.Canceled and not ErrUnavailable", err)
	}
}
