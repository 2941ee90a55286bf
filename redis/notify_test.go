package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/redis"
)

// recorder collects delivered changes for a test.
type recorder chan redis.Change

func (r recorder) fn(c redis.Change) { r <- c }

// next returns the next change that is not a resync, failing after a bound.
func (r recorder) next(t *testing.T) redis.Change {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c := <-r:
			if c.Kind != redis.KindResync {
				return c
			}
		case <-timeout:
			t.Fatal("no change notice arrived within 5s")
		}
	}
}

func subscribe(t *testing.T, n *redis.Notifier) recorder {
	t.Helper()
	r := make(recorder, 64)
	if err := n.Subscribe(t.Context(), r.fn); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return r
}

func TestNotifierTwoInstances(t *testing.T) {
	e := newEnv(t)
	a, b := redis.NewNotifier(e.client(t), nil), redis.NewNotifier(e.client(t), nil)
	onA, onB := subscribe(t, a), subscribe(t, b)

	tests := []struct {
		name string
		c    redis.Change
	}{
		{name: "Server", c: redis.Change{Kind: redis.KindServer, AccountID: "acc_1", ID: "srv_1", Version: 7}},
		{name: "Key", c: redis.Change{Kind: redis.KindKey, AccountID: "acc_1", ID: "key_1"}},
		{name: "Account", c: redis.Change{Kind: redis.KindAccount, AccountID: "acc_2"}},
		{name: "Connectors", c: redis.Change{Kind: redis.KindConnectors, AccountID: "acc_2", Version: 3}},
		{name: "Credential", c: redis.Change{Kind: redis.KindCredential, AccountID: "acc_2", ID: "cred_9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Publish(t.Context(), tt.c); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			// Every instance hears it, the publisher too.
			if diff := cmp.Diff(tt.c, onB.next(t)); diff != "" {
				t.Fatalf("other instance got (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.c, onA.next(t)); diff != "" {
				t.Fatalf("publishing instance got (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifierChannelsAreSeparate(t *testing.T) {
	e := newEnv(t)
	other := redis.NewNotifier(openClient(t, e.url, &redis.Options{Prefix: newPrefix(t)}), nil)
	mine := redis.NewNotifier(e.client(t), nil)
	onOther, onMine := subscribe(t, other), subscribe(t, mine)

	want := redis.Change{Kind: redis.KindServer, ID: "srv_mine", Version: 1}
	if err := mine.Publish(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, onMine.next(t)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// PUBLISH writes to every subscriber's connection before it returns, so
	// had mine reached the other prefix's subscriber, it would come there
	// before this marker.
	marker := redis.Change{Kind: redis.KindServer, ID: "srv_other"}
	if err := other.Publish(t.Context(), marker); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(marker, onOther.next(t)); diff != "" {
		t.Fatalf("another prefix's subscriber got a foreign notice (-want +got):\n%s", diff)
	}
}

func TestNotifierSkipsMalformedNotices(t *testing.T) {
	e := newEnv(t)
	n := redis.NewNotifier(e.client(t), nil)
	r := subscribe(t, n)
	raw := e.raw(t)
	for _, bad := range []string{"not json", `{"kind":""}`, `{"kind":"resync"}`, `[1,2]`} {
		if err := raw.Publish(t.Context(), e.prefix+redis.DefaultChannel, bad).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := redis.Change{Kind: redis.KindKey, ID: "key_after"}
	if err := n.Publish(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, r.next(t)); diff != "" {
		t.Fatalf("first delivered change (-want +got):\n%s", diff)
	}
}

func TestNotifierPublishRejectsInvalidKinds(t *testing.T) {
	n := redis.NewNotifier(newEnv(t).client(t), nil)
	for _, kind := range []string{"", redis.KindResync} {
		if err := n.Publish(t.Context(), redis.Change{Kind: kind}); err == nil {
			t.Fatalf("Publish with kind %q succeeded", kind)
		}
	}
}

func TestNotifierStopsWithContext(t *testing.T) {
	e := newEnv(t)
	n := redis.NewNotifier(e.client(t), &redis.NotifierOptions{Channel: "custom"})
	ctx, cancel := context.WithCancel(t.Context())
	r := make(recorder, 8)
	if err := n.Subscribe(ctx, r.fn); err != nil {
		t.Fatal(err)
	}
	raw := e.raw(t)
	cancel()
	// The subscription goes away once the goroutine sees ctx end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		counts, err := raw.PubSubNumSub(t.Context(), e.prefix+"custom").Result()
		if err != nil {
			t.Fatal(err)
		}
		if counts[e.prefix+"custom"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still subscribed 5s after ctx ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
