package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/patchbay-mcp/patchbay"
)

// ErrUnavailable is wrapped by every error that means Redis could not be
// reached or could not serve the command right now (connection refused,
// timeout, loading, read-only replica, out of memory, closed client). The
// returned errors are also *patchbay.Error with code EUnavailable.
var ErrUnavailable = errors.New("redis: unavailable")

// DefaultTimeout is the dial and read timeout when neither Options nor the
// URL set one: short, so that a request fails fast with 503 instead of
// waiting on a dead Redis.
const DefaultTimeout = 500 * time.Millisecond

// Options configure a Client. nil means the defaults.
type Options struct {
	// DialTimeout bounds connecting. 0: the URL's dial_timeout, else
	// DefaultTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for each reply, and writes as well. 0: the
	// URL's read_timeout, else DefaultTimeout.
	ReadTimeout time.Duration
	// PoolSize is the number of pooled connections. 0: the URL's
	// pool_size, else go-redis' default (10 per CPU).
	PoolSize int
	// Prefix is prepended to every key and channel this package uses, so
	// that several deployments or tests can share one Redis database.
	// Instances that share state must use the same Prefix.
	Prefix string
	// Random supplies lock tokens and the instance ID. nil: crypto/rand.
	Random io.Reader
	// Logger receives the few events that are not returned as errors
	// (an undecryptable cache value, a malformed change notice). nil:
	// discard.
	Logger *slog.Logger
}

// Client is a connection pool to one Redis server (standalone; go-redis
// ParseURL syntax: redis://[user:password@]host:port/db or rediss://).
// It is safe for concurrent use.
type Client struct {
	rdb    *goredis.Client
	prefix string
	random io.Reader
	log    *slog.Logger

	// instance and seq make tokens unique across processes without reading
	// randomness on every call: rate-limit members and nonce owners.
	instance string
	seq      atomic.Uint64
}

// Open connects to the Redis server at url and pings it, so that a wrong
// address or password fails at start-up. The error never contains the URL.
func Open(ctx context.Context, url string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	ro, err := goredis.ParseURL(url)
	if err != nil {
		// ParseURL's messages name the offending part, never the password.
		return nil, fmt.Errorf("redis: invalid URL: %w", err)
	}
	ro.DialTimeout = pick(o.DialTimeout, ro.DialTimeout, DefaultTimeout)
	ro.ReadTimeout = pick(o.ReadTimeout, ro.ReadTimeout, DefaultTimeout)
	ro.WriteTimeout = pick(o.ReadTimeout, ro.WriteTimeout, ro.ReadTimeout)
	if o.PoolSize > 0 {
		ro.PoolSize = o.PoolSize
	}
	// Honour callers' deadlines, which may be shorter than ReadTimeout.
	ro.ContextTimeoutEnabled = true
	// One retry covers a pooled connection that died with a restarted
	// server; every script here is idempotent under such a retry. More
	// retries, or dial retries, would only delay the 503 while Redis is down.
	if ro.MaxRetries == 0 {
		ro.MaxRetries = 1
	}
	ro.MinRetryBackoff = 5 * time.Millisecond
	ro.MaxRetryBackoff = 50 * time.Millisecond
	ro.DialerRetries = 1
	// Self-hosted Redis sends no maintenance notifications; skip the probe.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	c := &Client{rdb: goredis.NewClient(ro), prefix: o.Prefix, random: o.Random, log: o.Logger}
	if c.random == nil {
		c.random = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var id [9]byte
	if _, err := io.ReadFull(c.random, id[:]); err != nil {
		_ = c.rdb.Close()
		return nil, fmt.Errorf("redis: instance id: %w", err)
	}
	c.instance = base64.RawURLEncoding.EncodeToString(id[:])
	if err := c.Ping(ctx); err != nil {
		_ = c.rdb.Close()
		return nil, err
	}
	return c, nil
}

// pick returns the first positive duration.
func pick(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// Ping checks that Redis answers (for readiness checks).
func (c *Client) Ping(ctx context.Context) error {
	return c.fail(ctx, "ping", c.rdb.Ping(ctx).Err())
}

// Close closes the pool. Subscriptions end and later calls fail with
// ErrUnavailable.
func (c *Client) Close() error {
	return c.rdb.Close()
}

// key returns the Redis key (or channel) for name under the Prefix.
func (c *Client) key(name string) string { return c.prefix + name }

// token returns a string unique to this call among all Clients.
func (c *Client) token() string {
	return c.instance + "." + strconv.FormatUint(c.seq.Add(1), 36)
}

// fail classifies err from a command. A caller's cancellation or deadline
// is returned as such; server replies that mean "cannot serve now" and every
// transport failure wrap ErrUnavailable; any other server reply (a bug such
// as WRONGTYPE) is returned plainly and maps to an internal error.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("redis: %s: %w", op, cerr)
	}
	if !unavailable(err) {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return patchbay.Errorf(patchbay.EUnavailable, "Service temporarily unavailable").
		Wrap(fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err))
}

func unavailable(err error) bool {
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return true // transport, timeout, pool or closed client
	}
	// Replies that say the server cannot serve the command now, or that
	// this client may not use it at all (authentication, capacity): either
	// way the dependency is unavailable, not the request wrong.
	msg := rerr.Error()
	word, _, _ := strings.Cut(msg, " ")
	switch word {
	case "LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY",
		"NOREPLICAS", "OOM", "NOAUTH", "WRONGPASS", "NOPERM":
		return true
	}
	return strings.HasPrefix(msg, "ERR max number of clients")
}
