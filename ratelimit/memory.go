package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultShards is the number of lock shards of a MemoryStore.
const DefaultShards = 64

// MemoryOptions configure a MemoryStore. nil means the defaults.
type MemoryOptions struct {
	// Shards is the number of independently locked maps; it is rounded up
	// to a power of two. 0: DefaultShards.
	Shards int
}

// MemoryStore is a Store for one process. Keys are spread over sharded maps
// so that unrelated keys rarely contend for a lock. Each key keeps a ring
// buffer of its admitted timestamps, oldest first: expiring entries pop from
// the head and admitted ones push at the tail, so a decision costs amortized
// O(1) whatever the limit. Keys that have been idle for a whole window are
// dropped by a sweep that each shard runs at most once per window.
type MemoryStore struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard
}

var _ Store = (*MemoryStore)(nil)

type shard struct {
	mu        sync.Mutex
	windows   map[string]*ring
	lastSweep int64    // unix nanoseconds of the last idle sweep
	_         [40]byte // keep neighbouring shards' locks on separate cache lines
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts *MemoryOptions) *MemoryStore {
	n := DefaultShards
	if opts != nil && opts.Shards > 0 {
		n = opts.Shards
	}
	size := 1
	for size < n {
		size <<= 1
	}
	s := &MemoryStore{seed: maphash.MakeSeed(), mask: uint64(size - 1), shards: make([]shard, size)}
	for i := range s.shards {
		s.shards[i].windows = make(map[string]*ring)
	}
	return s
}

// maxStackRules is how many rules Admit handles without heap allocations
// for its bookkeeping; the MCP face uses at most two.
const maxStackRules = 4

// Admit implements Store.
func (s *MemoryStore) Admit(ctx context.Context, rules []Rule, window time.Duration, now time.Time) ([]Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if window <= 0 {
		return nil, errors.New("ratelimit: window must be positive")
	}
	if len(rules) == 0 {
		return []Decision{}, nil
	}
	nowN := now.UnixNano()
	span := int64(window)

	var shardBuf [maxStackRules]uint32
	var ringBuf [maxStackRules]*ring
	idx, rings := shardBuf[:0], ringBuf[:0]
	if len(rules) > maxStackRules {
		idx, rings = make([]uint32, 0, len(rules)), make([]*ring, 0, len(rules))
	}
	for _, r := range rules {
		idx = append(idx, uint32(maphash.String(s.seed, r.Key)&s.mask))
	}
	rings = rings[:len(rules)]

	// Lock each distinct shard once, in ascending order, so that two
	// multi-rule calls can never wait on each other in a cycle.
	var lockBuf [maxStackRules]uint32
	locked := lockOrder(idx, lockBuf[:0])
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range locked {
			s.shards[i].mu.Unlock()
		}
	}()
	for _, i := range locked {
		s.shards[i].sweep(nowN, span)
	}

	admitted := true
	for k, r := range rules {
		w := s.shards[idx[k]].windows[r.Key]
		if w != nil {
			w.expire(nowN - span)
			w.span = span
		}
		rings[k] = w
		if w.len() >= r.Limit {
			admitted = false
		}
	}
	if admitted {
		for k, r := range rules {
			w := rings[k]
			if w == nil {
				w = &ring{span: span}
				s.shards[idx[k]].windows[r.Key] = w
				for j := k; j < len(rules); j++ { // later rules on the same key share it
					if idx[j] == idx[k] && rules[j].Key == r.Key {
						rings[j] = w
					}
				}
			} else if pushedBefore(rings[:k], w) {
				continue
			}
			w.push(nowN, r.Limit)
		}
	}

	ds := make([]Decision, len(rules))
	for k, r := range rules {
		w := rings[k]
		n := w.len()
		d := Decision{Allowed: n < r.Limit || admitted, Limit: r.Limit, Remaining: max(r.Limit-n, 0)}
		if n > 0 {
			d.Reset = time.Unix(0, w.oldest()+span)
		} else {
			d.Reset = time.Unix(0, nowN+span)
		}
		if !d.Allowed {
			d.RetryAfter = d.Reset.Sub(now)
		}
		ds[k] = d
	}
	return ds, nil
}

// lockOrder appends idx's distinct shard numbers to out in ascending order,
// leaving idx itself intact for lookups. The caller passes out so that its
// backing array can live on the caller's stack.
func lockOrder(idx, out []uint32) []uint32 {
	if len(idx) == 1 {
		return idx
	}
	for _, i := range idx {
		// Insertion sort without duplicates: the list is tiny.
		pos := len(out)
		dup := false
		for j, o := range out {
			if o == i {
				dup = true
				break
			}
			if o > i {
				pos = j
				break
			}
		}
		if dup {
			continue
		}
		out = append(out, 0)
		copy(out[pos+1:], out[pos:])
		out[pos] = i
	}
	return out
}

func pushedBefore(prev []*ring, w *ring) bool {
	for _, p := range prev {
		if p == w {
			return true
		}
	}
	return false
}

// sweep drops the windows that hold no entry within their window any more.
// It runs at most once per window per shard, so its cost, linear in the
// shard's keys, is spread over all requests of that window.
func (sh *shard) sweep(nowN, span int64) {
	if nowN-sh.lastSweep < span {
		return
	}
	sh.lastSweep = nowN
	for k, w := range sh.windows {
		if w.n == 0 || w.newest() <= nowN-w.span {
			delete(sh.windows, k)
		}
	}
}

// ring holds one key's admitted timestamps (unix nanoseconds), oldest first.
type ring struct {
	ts   []int64
	head int
	n    int
	span int64 // the window last applied, for the idle sweep
}

// minRing is the smallest capacity a ring shrinks to.
const minRing = 8

func (w *ring) len() int {
	if w == nil {
		return 0
	}
	return w.n
}

func (w *ring) oldest() int64 { return w.ts[w.head] }

func (w *ring) newest() int64 { return w.ts[(w.head+w.n-1)%len(w.ts)] }

// expire drops the entries at or before cutoff: they are outside the window.
func (w *ring) expire(cutoff int64) {
	for w.n > 0 && w.ts[w.head] <= cutoff {
		w.head++
		if w.head == len(w.ts) {
			w.head = 0
		}
		w.n--
	}
	if len(w.ts) > minRing && w.n < len(w.ts)/4 {
		w.resize(max(len(w.ts)/2, minRing))
	}
}

// push appends t, or the newest timestamp if t is older. Concurrent callers
// may reach the lock in another order than they read the clock; recording
// such a request a little late keeps the ring sorted and can only make the
// window stricter, never admit more.
func (w *ring) push(t int64, limit int) {
	if w.n > 0 {
		t = max(t, w.newest())
	}
	if w.n == len(w.ts) {
		// Doubling gives amortized O(1); capping at the limit keeps a key
		// with limit N from holding more than N slots.
		w.resize(max(min(2*len(w.ts), limit), w.n+1, min(minRing, limit)))
	}
	w.ts[(w.head+w.n)%len(w.ts)] = t
	w.n++
}

func (w *ring) resize(capacity int) {
	ts := make([]int64, capacity)
	if w.n > 0 {
		end := w.head + w.n
		if end <= len(w.ts) {
			copy(ts, w.ts[w.head:end])
		} else {
			m := copy(ts, w.ts[w.head:])
			copy(ts[m:], w.ts[:end-len(w.ts)])
		}
	}
	w.ts, w.head = ts, 0
}
