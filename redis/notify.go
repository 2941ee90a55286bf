package redis

import (
	"context"
	"encoding/json"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Kinds of Change the instances send each other. The notifier carries any
// kind; these are the ones in use.
const (
	KindServer     = "server"
	KindKey        = "key"
	KindAccount    = "account"
	KindConnectors = "connectors"
	KindCredential = "credential"
	// KindResync is delivered, never published: the subscription was
	// re-established after a lost connection, so notices sent meanwhile
	// may be missing and the subscriber should drop what they would have
	// invalidated (or rely on --config-cache-ttl).
	KindResync = "resync"
)

// DefaultChannel is the pub/sub channel of change notices (under the
// Client's Prefix).
const DefaultChannel = "pb:changes"

// Change tells other instances that something they may cache has changed
// (§17.6). Version is the new version where the kind has one.
type Change struct {
	Kind      string `json:"kind"`
	AccountID string `json:"accountId,omitempty"`
	ID        string `json:"id,omitempty"`
	Version   int64  `json:"version,omitempty"`
}

// NotifierOptions configure a Notifier. nil means the defaults.
type NotifierOptions struct {
	// Channel is the pub/sub channel. "": DefaultChannel.
	Channel string
}

// Notifier sends and receives change notices over Redis pub/sub. Pub/sub
// delivers at most once and only to connected subscribers, so notices only
// shorten staleness; the config-cache TTL still bounds it (§17.6).
type Notifier struct {
	c       *Client
	channel string
}

// NewNotifier returns a Notifier over c.
func NewNotifier(c *Client, opts *NotifierOptions) *Notifier {
	ch := DefaultChannel
	if opts != nil && opts.Channel != "" {
		ch = opts.Channel
	}
	return &Notifier{c: c, channel: c.key(ch)}
}

// Publish sends ch to every subscribed instance, this one included.
func (n *Notifier) Publish(ctx context.Context, ch Change) error {
	if ch.Kind == "" || ch.Kind == KindResync {
		return fmt.Errorf("redis: publish: invalid kind %q", ch.Kind)
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	if err := n.c.rdb.Publish(ctx, n.channel, b).Err(); err != nil {
		return n.c.fail(ctx, "publish", err)
	}
	return nil
}

// Subscribe subscribes and returns once Redis has confirmed the
// subscription, so that every later Publish reaches fn. fn then runs on one
// goroutine, one change at a time, until ctx ends or the Client is closed;
// it should return quickly. When the connection drops, go-redis re-dials
// and re-subscribes by itself (pinging every few seconds to notice a silent
// drop), and fn receives Change{Kind: KindResync} once the subscription is
// back. Malformed notices are logged and skipped.
func (n *Notifier) Subscribe(ctx context.Context, fn func(Change)) error {
	ps := n.c.rdb.Subscribe(ctx, n.channel)
	// go-redis sends SUBSCRIBE without reporting failure; the confirmation
	// is the first reply.
	msg, err := ps.ReceiveTimeout(ctx, n.c.rdb.Options().ReadTimeout)
	if err == nil {
		if _, ok := msg.(*goredis.Subscription); !ok {
			err = fmt.Errorf("unexpected %T before the subscription", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return n.c.fail(ctx, "subscribe", err)
	}
	msgs := ps.ChannelWithSubscriptions()
	go func() {
		// Nobody is left to act on a failed close: ctx has ended or the
		// Client is closed already.
		defer func() { _ = ps.Close() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return // the Client was closed
				}
				n.deliver(ctx, m, fn)
			}
		}
	}()
	return nil
}

func (n *Notifier) deliver(ctx context.Context, m any, fn func(Change)) {
	switch m := m.(type) {
	case *goredis.Subscription:
		if m.Kind == "subscribe" {
			fn(Change{Kind: KindResync})
		}
	case *goredis.Message:
		ch, err := decodeChange(m.Payload)
		if err != nil {
			n.c.log.WarnContext(ctx, "redis: malformed change notice skipped", "error", err.Error())
			return
		}
		fn(ch)
	}
}

// decodeChange parses one notice. Anyone who can publish on the channel can
// reach it, so it is strict about shape but never panics.
func decodeChange(payload string) (Change, error) {
	var ch Change
	if err := json.Unmarshal([]byte(payload), &ch); err != nil {
		return Change{}, fmt.Errorf("decode change: %w", err)
	}
	if ch.Kind == "" || ch.Kind == KindResync {
		return Change{}, fmt.Errorf("decode change: invalid kind %q", ch.Kind)
	}
	return ch, nil
}
