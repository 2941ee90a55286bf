package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/ratelimit"
)

// clock is a manual clock for the Limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterAllow(t *testing.T) {
	c := &clock{t: time.Unix(1767225600, 0)}
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: c.now})
	user := ratelimit.Rule{Key: "srv/u1", Limit: 2}
	agg := ratelimit.Rule{Key: "srv/unverified", Limit: 3}
	user2 := ratelimit.Rule{Key: "srv/u2", Limit: 2}
	sec := time.Second
	tests := []struct {
		name    string
		advance time.Duration
		rules   []ratelimit.Rule
		want    ratelimit.Decision
	}{
		{name: "FirstRulesDecisionWhenAdmitted", rules: []ratelimit.Rule{user, agg},
			want: ratelimit.Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: c.t.Add(60 * sec)}},
		{name: "SecondRequest", advance: sec, rules: []ratelimit.Rule{user, agg},
			want: ratelimit.Decision{Allowed: true, Limit: 2, Remaining: 0, Reset: c.t.Add(60 * sec)}},
		{name: "UserRuleRefuses", advance: sec, rules: []ratelimit.Rule{user, agg},
			want: ratelimit.Decision{Limit: 2, Remaining: 0, Reset: c.t.Add(60 * sec), RetryAfter: 58 * sec}},
		{name: "OtherUser", advance: sec, rules: []ratelimit.Rule{user2, agg},
			want: ratelimit.Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: c.t.Add(63 * sec)}},
		{name: "AggregateRuleRefuses", advance: sec, rules: []ratelimit.Rule{user2, agg},
			want: ratelimit.Decision{Limit: 3, Remaining: 0, Reset: c.t.Add(60 * sec), RetryAfter: 56 * sec}},
		{name: "NoRules", want: ratelimit.Decision{Allowed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = c.t.Add(tt.advance)
			got, err := l.Allow(context.Background(), tt.rules...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Allow (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimiterDefaults(t *testing.T) {
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), nil)
	if l.Window() != 60*time.Second {
		t.Errorf("Window() = %v, want 60s", l.Window())
	}
	start := time.Now()
	d, err := l.Allow(context.Background(), ratelimit.Rule{Key: "k", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	// With the real clock only a range can be checked: Reset is one window
	// after a now taken during the call.
	if !d.Allowed || d.Reset.Before(start.Add(time.Minute)) || d.Reset.After(time.Now().Add(time.Minute)) {
		t.Errorf("Allow = %+v", d)
	}
}

func TestLimiterWindowOption(t *testing.T) {
	now := time.Unix(1767225600, 0)
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Window: 5 * time.Second, Now: func() time.Time { return now }})
	d, err := l.Allow(context.Background(), ratelimit.Rule{Key: "k", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Reset.Equal(now.Add(5 * time.Second)) {
		t.Errorf("Reset = %v, want now+5s", d.Reset)
	}
}

func TestLimiterStoreError(t *testing.T) {
	l := ratelimit.New(ratelimit.NewMemoryStore(nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Allow(ctx, ratelimit.Rule{Key: "k", Limit: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow with a canceled context: err = %v", err)
	}
}
