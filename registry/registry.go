package registry

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/discovery"
)

// Store reads custom connectors.
type Store interface {
	ListConnectors(ctx context.Context, accountID string) ([]*patchbay.Connector, error)
	ConnectorsVersion(ctx context.Context, accountID string) (int64, error)
}

// Entry is one visible connector.
type Entry struct {
	Connector *patchbay.Connector
	Compiled  *connector.Compiled
}

// View is an immutable snapshot of what one account can see.
type View struct {
	AccountID string
	Version   int64    // the account's custom-connector version
	Entries   []*Entry // sorted by connector ID
	byID      map[string]*Entry
	Index     *discovery.Index
}

// Lookup returns the visible connector with this ID, or nil.
func (v *View) Lookup(id string) *Entry { return v.byID[id] }

// Options configures a Registry.
type Options struct {
	// TTL bounds how long a view is served before its version is re-read
	// (--config-cache-ttl).
	TTL time.Duration
	Now func() time.Time
	// Headers returns the static headers of a custom mcp connector
	// (§11.6). The store keeps them sealed apart from the definition, so
	// the registry asks for them once per connector version. nil: none.
	Headers func(ctx context.Context, c *patchbay.Connector) (map[string]patchbay.Secret, error)
}

// Registry caches one View per account.
type Registry struct {
	store    Store
	builtins []*Entry
	opts     Options

	mu    sync.Mutex
	views map[string]*cachedView
	// gen counts Invalidate calls. A version read before an invalidation
	// may predate the change, so what it yields serves that request but is
	// not cached (else a deleted connector stays visible for the TTL).
	gen uint64
}

type cachedView struct {
	view    *View
	checked time.Time
	// compiled custom connectors by id, reused across views while their
	// version is unchanged.
	compiled map[string]*Entry
}

// New compiles the built-in connectors. Their IDs must be unique.
func New(builtins []*patchbay.Connector, store Store, opts *Options) (*Registry, error) {
	r := &Registry{store: store, views: map[string]*cachedView{}}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.TTL <= 0 {
		r.opts.TTL = 5 * time.Second
	}
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	seen := map[string]bool{}
	for _, c := range builtins {
		if seen[c.ID] {
			return nil, fmt.Errorf("built-in connector %q is defined twice", c.ID)
		}
		seen[c.ID] = true
		c.Source = patchbay.SourceBuiltin
		comp, err := connector.Compile(c)
		if err != nil {
			return nil, fmt.Errorf("built-in connector %q: %w", c.ID, err)
		}
		r.builtins = append(r.builtins, &Entry{Connector: c, Compiled: comp})
	}
	sort.Slice(r.builtins, func(i, j int) bool { return r.builtins[i].Connector.ID < r.builtins[j].Connector.ID })
	return r, nil
}

// Builtin returns the built-in connector with this ID, or nil.
func (r *Registry) Builtin(id string) *patchbay.Connector {
	for _, e := range r.builtins {
		if e.Connector.ID == id {
			return e.Connector
		}
	}
	return nil
}

// Builtins returns the built-in connectors sorted by ID.
func (r *Registry) Builtins() []*patchbay.Connector {
	out := make([]*patchbay.Connector, len(r.builtins))
	for i, e := range r.builtins {
		out[i] = e.Connector
	}
	return out
}

// View returns the account's current view: from memory while it is younger
// than the TTL, else after checking the stored version.
func (r *Registry) View(ctx context.Context, accountID string) (*View, error) {
	now := r.opts.Now()
	r.mu.Lock()
	cv := r.views[accountID]
	if cv != nil && now.Sub(cv.checked) < r.opts.TTL {
		r.mu.Unlock()
		return cv.view, nil
	}
	gen := r.gen
	r.mu.Unlock()

	version, err := r.store.ConnectorsVersion(ctx, accountID)
	if err != nil {
		if cv != nil {
			return cv.view, nil // serve the last view through a store outage (§17.5)
		}
		return nil, patchbay.Errorf(patchbay.EUnavailable, "connector store unavailable").Wrap(err)
	}
	if cv != nil && cv.view.Version == version {
		r.mu.Lock()
		if r.gen == gen {
			cv.checked = now
		}
		r.mu.Unlock()
		return cv.view, nil
	}
	customs, err := r.store.ListConnectors(ctx, accountID)
	if err != nil {
		return nil, patchbay.Errorf(patchbay.EUnavailable, "connector store unavailable").Wrap(err)
	}
	var old map[string]*Entry
	if cv != nil {
		old = cv.compiled
	}
	compiled := make(map[string]*Entry, len(customs))
	for _, c := range customs {
		if e := old[c.ID]; e != nil && e.Connector.Version == c.Version {
			compiled[c.ID] = e
			continue
		}
		if c.IsMCP() && r.opts.Headers != nil {
			h, err := r.opts.Headers(ctx, c)
			if err != nil {
				// Headers that do not open (§14) hide the connector: calling
				// the upstream without them would be a different request.
				continue
			}
			c.Headers = h
		}
		comp, err := connector.Compile(c)
		if err != nil {
			// A stored definition that no longer compiles is hidden rather
			// than breaking the whole account.
			continue
		}
		compiled[c.ID] = &Entry{Connector: c, Compiled: comp}
	}
	v := r.build(accountID, version, compiled)
	r.mu.Lock()
	if r.gen == gen {
		r.views[accountID] = &cachedView{view: v, checked: now, compiled: compiled}
	}
	r.mu.Unlock()
	return v, nil
}

func (r *Registry) build(accountID string, version int64, customs map[string]*Entry) *View {
	v := &View{AccountID: accountID, Version: version, byID: make(map[string]*Entry, len(r.builtins)+len(customs))}
	for _, e := range r.builtins {
		v.byID[e.Connector.ID] = e
	}
	for id, e := range customs {
		if _, clash := v.byID[id]; clash {
			continue // a custom connector never shadows a built-in (§11.4)
		}
		v.byID[id] = e
	}
	v.Entries = make([]*Entry, 0, len(v.byID))
	conns := make([]*patchbay.Connector, 0, len(v.byID))
	for _, e := range v.byID {
		v.Entries = append(v.Entries, e)
	}
	sort.Slice(v.Entries, func(i, j int) bool { return v.Entries[i].Connector.ID < v.Entries[j].Connector.ID })
	for _, e := range v.Entries {
		conns = append(conns, e.Connector)
	}
	v.Index = discovery.NewIndex(conns)
	return v
}

// Connector returns a visible connector (oauth.Connectors).
func (r *Registry) Connector(ctx context.Context, accountID, id string) (*patchbay.Connector, error) {
	v, err := r.View(ctx, accountID)
	if err != nil {
		return nil, err
	}
	e := v.Lookup(id)
	if e == nil {
		return nil, patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
	}
	return e.Connector, nil
}

// Invalidate drops the account's view (a change on this instance, or a
// change notice).
func (r *Registry) Invalidate(accountID string) {
	r.mu.Lock()
	r.gen++
	if cv := r.views[accountID]; cv != nil {
		cv.checked = time.Time{}
	}
	r.mu.Unlock()
}

// InvalidateAll makes every account's view re-check its version on next
// use (change notices may have been lost while Redis was away).
func (r *Registry) InvalidateAll() {
	r.mu.Lock()
	r.gen++
	for _, cv := range r.views {
		cv.checked = time.Time{}
	}
	r.mu.Unlock()
}
