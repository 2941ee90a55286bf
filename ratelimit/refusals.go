package ratelimit

import (
	"sync"
	"time"
)

// Refusals remembers which keys were refused recently, so that a face
// audits only the first 429 per key and minute (§16 rate.limited). The zero
// value is ready to use.
type Refusals struct {
	mu sync.Mutex
	at map[string]time.Time
}

// refusalMemory is how long a refusal suppresses the next event of its key.
const refusalMemory = time.Minute

// First records a refusal of key at now and reports whether it is the
// first within a minute.
func (r *Refusals) First(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	if last, ok := r.at[key]; ok && now.Sub(last) < refusalMemory {
		return false
	}
	if len(r.at) >= 4096 {
		// Entries older than a minute suppress nothing: forgetting them
		// bounds the map.
		for k, at := range r.at {
			if now.Sub(at) >= refusalMemory {
				delete(r.at, k)
			}
		}
	}
	r.at[key] = now
	return true
}
