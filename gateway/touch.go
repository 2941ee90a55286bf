package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// toucher records credentials' lastUsedAt off the request path, at most
// once per second per credential: timestamps have second precision, so
// coalescing loses nothing.
type toucher struct {
	store interface {
		TouchCredential(ctx context.Context, accountID, id string, at time.Time) error
	}
	log     *slog.Logger
	mu      sync.Mutex
	pending map[[2]string]time.Time
	last    map[[2]string]time.Time
	kick    chan struct{}
	done    chan struct{}
	once    sync.Once
	stop    chan struct{}
}

func newToucher(store interface {
	TouchCredential(ctx context.Context, accountID, id string, at time.Time) error
}, log *slog.Logger) *toucher {
	t := &toucher{store: store, log: log, pending: map[[2]string]time.Time{}, last: map[[2]string]time.Time{},
		kick: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	go t.run()
	return t
}

func (t *toucher) touch(accountID, id string, at time.Time) {
	k := [2]string{accountID, id}
	at = at.UTC().Truncate(time.Second)
	t.mu.Lock()
	if t.last[k].Equal(at) {
		t.mu.Unlock()
		return
	}
	t.pending[k] = at
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *toucher) run() {
	defer close(t.done)
	for {
		select {
		case <-t.kick:
		case <-t.stop:
			t.flush()
			return
		}
		t.flush()
	}
}

func (t *toucher) flush() {
	t.mu.Lock()
	batch := t.pending
	t.pending = map[[2]string]time.Time{}
	for k, at := range batch {
		t.last[k] = at
	}
	if len(t.last) > 100000 {
		t.last = map[[2]string]time.Time{}
	}
	t.mu.Unlock()
	for k, at := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.store.TouchCredential(ctx, k[0], k[1], at); err != nil {
			t.log.Warn("could not record credential use", "credential_id", k[1], "error", err.Error())
		}
		cancel()
	}
}

func (t *toucher) close() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
}
