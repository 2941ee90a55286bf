package connector

import (
	"context"
	"sync"
)

// limiter caps concurrent upstream calls per account (§17.4). An account's
// entry exists only while it has calls running or waiting, so the map does
// not grow with the number of accounts ever seen.
type limiter struct {
	max int
	mu  sync.Mutex
	m   map[string]*accountSlots
}

type accountSlots struct {
	refs  int           // running plus waiting calls; guarded by limiter.mu
	slots chan struct{} // one element per running call
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, m: make(map[string]*accountSlots)}
}

// acquire waits for a slot of account until ctx ends. On success the caller
// must call release(account, slot) exactly once.
func (l *limiter) acquire(ctx context.Context, account string) (*accountSlots, error) {
	l.mu.Lock()
	s := l.m[account]
	if s == nil {
		s = &accountSlots{slots: make(chan struct{}, l.max)}
		l.m[account] = s
	}
	s.refs++
	l.mu.Unlock()

	select {
	case s.slots <- struct{}{}:
		return s, nil
	case <-ctx.Done():
		l.unref(account, s)
		return nil, ctx.Err()
	}
}

func (l *limiter) release(account string, s *accountSlots) {
	<-s.slots
	l.unref(account, s)
}

func (l *limiter) unref(account string, s *accountSlots) {
	l.mu.Lock()
	s.refs--
	if s.refs == 0 {
		delete(l.m, account)
	}
	l.mu.Unlock()
}

// inUse reports the running calls of account (tests).
func (l *limiter) inUse(account string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.m[account]; s != nil {
		return len(s.slots)
	}
	return 0
}

// waiting reports the calls of account waiting for a slot (tests).
func (l *limiter) waiting(account string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.m[account]; s != nil {
		return s.refs - len(s.slots)
	}
	return 0
}
