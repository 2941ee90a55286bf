package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// DefaultWindow is the window of every limit in the contract (§9).
const DefaultWindow = 60 * time.Second

// Rule is one limit that a request must pass: at most Limit admitted requests
// of Key per window. A Limit of zero or less refuses everything.
type Rule struct {
	Key   string
	Limit int
}

// Decision describes one rule's window after a request was decided. The
// caller turns it into the §9 headers: X-RateLimit-Limit = Limit,
// X-RateLimit-Remaining = Remaining, X-RateLimit-Reset = Reset rounded up to
// whole seconds, and on a 429 Retry-After = max(1, RetryAfter rounded up).
type Decision struct {
	// Allowed reports whether this rule's window had room. The request was
	// admitted, and counted in every rule's window, iff every rule's
	// Decision is Allowed.
	Allowed bool
	// Limit is the rule's limit N.
	Limit int
	// Remaining is N minus the admitted requests in the window, including
	// this request if it was admitted, floored at 0.
	Remaining int
	// Reset is when the oldest admitted request in the window leaves it, so
	// that Remaining next grows; now + window if the window is empty or holds
	// only this request.
	Reset time.Time
	// RetryAfter is Reset - now for a rule that refused, and 0 otherwise.
	// After a limit was lowered below the window's count it is a lower bound:
	// more than one request may have to leave before one is admitted again.
	RetryAfter time.Duration
}

// Store keeps the windows. Implementations must make each Admit atomic with
// respect to every other Admit on the same keys.
type Store interface {
	// Admit admits the request iff every rule admits it, and then counts it
	// in every rule's window (all-or-nothing). It returns one Decision per
	// rule, in the order of rules. An entry is within the window of a
	// request at now iff it was admitted after now - window. Rules that name
	// the same key share one window, and the request is counted in it once.
	Admit(ctx context.Context, rules []Rule, window time.Duration, now time.Time) ([]Decision, error)
}

// Options configure a Limiter. The zero value and nil mean the defaults.
type Options struct {
	Window time.Duration    // 0: DefaultWindow
	Now    func() time.Time // nil: time.Now
}

// Limiter applies rules against a Store with one clock and one window.
type Limiter struct {
	store  Store
	window time.Duration
	now    func() time.Time
}

// New returns a Limiter over store.
func New(store Store, opts *Options) *Limiter {
	l := &Limiter{store: store, window: DefaultWindow, now: time.Now}
	if opts != nil {
		if opts.Window > 0 {
			l.window = opts.Window
		}
		if opts.Now != nil {
			l.now = opts.Now
		}
	}
	return l
}

// Window returns the limiter's window (for the 429 body's windowSeconds).
func (l *Limiter) Window() time.Duration { return l.window }

// Allow decides one request under all rules at once (§9: an unverified
// identity is counted in both its own and the server's aggregate window, or
// in neither). It returns the first refusing rule's Decision if the request
// was refused, else the first rule's. Without rules it admits and returns
// Decision{Allowed: true}. A store error is returned as is; whether to fail
// open or closed is the caller's decision.
func (l *Limiter) Allow(ctx context.Context, rules ...Rule) (Decision, error) {
	if len(rules) == 0 {
		return Decision{Allowed: true}, nil
	}
	ds, err := l.store.Admit(ctx, rules, l.window, l.now())
	if err != nil {
		return Decision{}, err
	}
	if len(ds) != len(rules) {
		return Decision{}, fmt.Errorf("ratelimit: store returned %d decisions for %d rules", len(ds), len(rules))
	}
	for _, d := range ds {
		if !d.Allowed {
			return d, nil
		}
	}
	return ds[0], nil
}
