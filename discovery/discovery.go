package discovery

import (
	"cmp"
	"slices"
	"sync"

	"github.com/patchbay-mcp/patchbay"
)

// Limits of a Search (§7.8: limit 1..20, default 5).
const (
	DefaultLimit = 5
	MaxLimit     = 20
)

// Points of §7.8 step 2, by where a goal token occurs.
//
// Reading of the contract: the points are tiers, not a sum. Each distinct
// goal token earns the points of the most specific place it occurs in, and
// at most 3. Reasons:
//   - the score divides the raw sum by 3 x the number of distinct goal
//     tokens, i.e. by the sum of per-token maxima of 3; with additive points
//     one token could earn 3+2+1 = 6 and scores could exceed 1;
//   - "+1 if only in the action description" makes the description a
//     fallback that applies when nothing better matched, and the same
//     "else" chain is the natural reading of the other two.
//
// The contract's own example cannot pin this down: for "create a deal in
// acme" on acme-crm deals_create it states 0.83, but the goal has three
// distinct tokens (create, deal, acme) and integer points give k/9, i.e.
// 0.78 or 0.89 or 1, never 0.83. Tiers give acme 3 + create 2 + deal 2 =
// 7/9 = 0.78; summing every place gives 3 + (2+1) + (2+1) = 9/9 = 1.00.
// 0.78 is what this package returns and what its test pins.
const (
	pointsConnector   = 3 // connector id, name or a category
	pointsAction      = 2 // action id or name, resource id or name
	pointsDescription = 1 // action description only
)

// Match is one ranked action.
type Match struct {
	ConnectorID string
	ActionID    string
	Name        string
	Description string
	ResourceID  string
	Score       float64 // in (0, 1], two decimals

	Connector *patchbay.Connector
	Action    *patchbay.Action
}

// Index is the tokenized form of a set of connectors. It keeps pointers into
// the connectors it was built from, which must not change afterwards. An
// Index is immutable and safe for concurrent use.
type Index struct {
	// entries are all actions, ordered by connector ID and then action ID,
	// so that an entry's position is the contract's tie-break order.
	entries []entry
	// connector holds, per token, the entry ranges [lo, hi) of the
	// connectors whose id, name or categories contain it.
	connector map[string][]span
	// action and description hold, per token, the entries whose
	// action/resource id or name, or description, contain it.
	action      map[string][]int32
	description map[string][]int32

	// scratch recycles Search's working memory, which is sized by the
	// number of entries, so that a search allocates little more than its
	// result.
	scratch sync.Pool // of *scratch
}

type scratch struct {
	buf     []byte
	ends    []int
	toks    []string
	raw     []int32 // score so far, per entry
	seen    []int32 // stamp of the last goal token that scored the entry
	touched []int32 // entries with raw > 0
	cands   []candidate
}

type candidate struct {
	hundredths int
	entry      int32
}

type entry struct {
	connector *patchbay.Connector
	resource  *patchbay.Resource
	action    *patchbay.Action
}

type span struct{ lo, hi int32 }

// NewIndex tokenizes connectors once. Nil connectors are skipped.
func NewIndex(connectors []*patchbay.Connector) *Index {
	ix := &Index{
		connector:   map[string][]span{},
		action:      map[string][]int32{},
		description: map[string][]int32{},
	}
	sorted := slices.DeleteFunc(slices.Clone(connectors), func(c *patchbay.Connector) bool { return c == nil })
	slices.SortStableFunc(sorted, func(a, b *patchbay.Connector) int { return cmp.Compare(a.ID, b.ID) })

	var toks []string
	for _, c := range sorted {
		lo := int32(len(ix.entries))
		for i := range c.Resources {
			r := &c.Resources[i]
			for j := range r.Actions {
				ix.entries = append(ix.entries, entry{connector: c, resource: r, action: &r.Actions[j]})
			}
		}
		slices.SortStableFunc(ix.entries[lo:], func(a, b entry) int { return cmp.Compare(a.action.ID, b.action.ID) })
		hi := int32(len(ix.entries))
		if hi == lo {
			continue
		}

		toks = appendTokens(toks[:0], c.ID, true)
		toks = appendTokens(toks, c.Name, true)
		for _, cat := range c.Categories {
			toks = appendTokens(toks, cat, true)
		}
		for _, t := range distinct(toks) {
			ix.connector[t] = append(ix.connector[t], span{lo, hi})
		}
		for e := lo; e < hi; e++ {
			en := &ix.entries[e]
			toks = appendTokens(toks[:0], en.action.ID, true)
			toks = appendTokens(toks, en.action.Name, true)
			toks = appendTokens(toks, en.resource.ID, true)
			toks = appendTokens(toks, en.resource.Name, true)
			for _, t := range distinct(toks) {
				ix.action[t] = append(ix.action[t], e)
			}
			toks = appendTokens(toks[:0], en.action.Description, true)
			for _, t := range distinct(toks) {
				ix.description[t] = append(ix.description[t], e)
			}
		}
	}
	return ix
}

// distinct sorts toks and removes repeats, in place.
func distinct(toks []string) []string {
	slices.Sort(toks)
	return slices.Compact(toks)
}

// Search ranks the actions for which permitted returns true (nil permits
// all) against goal, following §7.8: per distinct goal token the points of
// the most specific place it occurs (see pointsConnector), score = raw / (3 x
// distinct goal tokens) rounded half up to two decimals, score 0 dropped,
// ordered by score descending, then connector ID, then action ID. limit <= 0
// means DefaultLimit; above MaxLimit it is MaxLimit. It returns nil when
// nothing matches. permitted is called only for actions that score.
func (ix *Index) Search(goal string, limit int, permitted func(c *patchbay.Connector, a *patchbay.Action) bool) []Match {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if ix == nil || len(ix.entries) == 0 {
		return nil
	}
	sc, _ := ix.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{raw: make([]int32, len(ix.entries)), seen: make([]int32, len(ix.entries))}
	}
	defer ix.scratch.Put(sc)

	sc.buf, sc.ends = tokenize(sc.buf[:0], sc.ends[:0], goal, false)
	str := string(sc.buf)
	sc.toks = sc.toks[:0]
	start := 0
	for _, e := range sc.ends {
		sc.toks = append(sc.toks, str[start:e])
		start = e
	}
	goalToks := distinct(sc.toks)
	if len(goalToks) == 0 {
		return nil
	}

	// Each token scores an entry once, at its most specific place: the
	// tiers are visited from the highest down and seen holds the stamp of
	// the token that scored the entry last.
	raw, seen := sc.raw, sc.seen
	touched := sc.touched[:0]
	for i, t := range goalToks {
		stamp := int32(i + 1)
		award := func(e, points int32) {
			if seen[e] == stamp {
				return
			}
			seen[e] = stamp
			if raw[e] == 0 {
				touched = append(touched, e)
			}
			raw[e] += points
		}
		for _, s := range ix.connector[t] {
			for e := s.lo; e < s.hi; e++ {
				award(e, pointsConnector)
			}
		}
		for _, e := range ix.action[t] {
			award(e, pointsAction)
		}
		for _, e := range ix.description[t] {
			award(e, pointsDescription)
		}
	}

	cands := sc.cands[:0]
	den := 3 * len(goalToks)
	for _, e := range touched {
		// raw/den rounded half up to hundredths, in integers so that ties
		// are exact.
		h := (200*int(raw[e]) + den) / (2 * den)
		raw[e], seen[e] = 0, 0 // leave the scratch clean for the next search
		if h > 0 {
			cands = append(cands, candidate{h, e})
		}
	}
	sc.touched, sc.cands = touched, cands
	if permitted != nil {
		cands = slices.DeleteFunc(cands, func(c candidate) bool {
			en := &ix.entries[c.entry]
			return !permitted(en.connector, en.action)
		})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.hundredths != b.hundredths {
			return cmp.Compare(b.hundredths, a.hundredths)
		}
		return cmp.Compare(a.entry, b.entry)
	})
	if len(cands) == 0 {
		return nil
	}
	cands = cands[:min(len(cands), limit)]
	out := make([]Match, len(cands))
	for i, c := range cands {
		en := &ix.entries[c.entry]
		out[i] = Match{
			ConnectorID: en.connector.ID,
			ActionID:    en.action.ID,
			Name:        en.action.Name,
			Description: en.action.Description,
			ResourceID:  en.resource.ID,
			Score:       float64(c.hundredths) / 100,
			Connector:   en.connector,
			Action:      en.action,
		}
	}
	return out
}
