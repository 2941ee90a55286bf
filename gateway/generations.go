package gateway

import "hash/maphash"

// generations counts invalidations per stripe of keys. A cache fill that
// read the store before an invalidation of its key must not be stored (it
// may predate the change); comparing the stripe's count from before the
// read with the count after it tells. Stripes keep unrelated changes from
// discarding each other's fills. The owner's mutex guards it.
type generations struct {
	seed maphash.Seed
	n    [64]uint64
}

func newGenerations() generations { return generations{seed: maphash.MakeSeed()} }

func (g *generations) stripe(key string) *uint64 {
	return &g.n[maphash.String(g.seed, key)&uint64(len(g.n)-1)]
}

// of returns the key's current count.
func (g *generations) of(key string) uint64 { return *g.stripe(key) }

// bump records an invalidation of key.
func (g *generations) bump(key string) { *g.stripe(key)++ }

// bumpAll records an invalidation of every key.
func (g *generations) bumpAll() {
	for i := range g.n {
		g.n[i]++
	}
}
