package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/policy"
	"github.com/patchbay-mcp/patchbay/registry"
)

// serverEntry is one cached server configuration and the MCP servers built
// from it. The configuration is immutable; a new version gets a new entry.
type serverEntry struct {
	server  *patchbay.Server
	policy  *policy.Policy
	checked atomic.Int64 // unix nanoseconds of the last version check

	mu    sync.Mutex
	built map[int64]*builtServer // by catalog view version
}

// staleLimit is how long a cached configuration keeps serving while the
// database is unreachable (§17.5).
const staleLimit = 5 * time.Minute

// serverEntry returns the server's configuration from memory while it is
// younger than the config TTL; after that the stored version is re-read.
func (h *Handler) serverEntry(ctx context.Context, id string) (*serverEntry, error) {
	now := h.opts.Now()
	h.mu.Lock()
	e := h.servers[id]
	gen := h.serverGens.of(id)
	h.mu.Unlock()
	if e != nil && now.Sub(time.Unix(0, e.checked.Load())) < h.opts.ConfigTTL {
		return e, nil
	}
	srv, err := h.store.FindServer(ctx, id)
	switch {
	case patchbay.IsCode(err, patchbay.ENotFound):
		// Only forget a stale copy: an unknown ID is no change, and counting
		// it would let a flood of made-up IDs keep every fill from caching.
		h.mu.Lock()
		delete(h.servers, id)
		h.mu.Unlock()
		return nil, err
	case err != nil:
		if e != nil && now.Sub(time.Unix(0, e.checked.Load())) < staleLimit {
			return e, nil
		}
		return nil, patchbay.Errorf(patchbay.EUnavailable, "Service unavailable").Wrap(err)
	}
	if e != nil && e.server.Version == srv.Version {
		e.checked.Store(now.UnixNano())
		return e, nil
	}
	ne := &serverEntry{server: srv, policy: policy.Compile(&srv.Restrictions), built: map[int64]*builtServer{}}
	ne.checked.Store(now.UnixNano())
	h.mu.Lock()
	// A change invalidated while the store was read: what was read may
	// predate it, so it serves this request only. Caching it would bring a
	// regenerated token or a deleted server back for the config TTL.
	if h.serverGens.of(id) == gen {
		h.servers[id] = ne
	}
	h.mu.Unlock()
	return ne, nil
}

// Invalidate drops a server's cached configuration: the next request reads
// it again. httpapi calls it for changes on this instance; change notices
// call it for changes elsewhere.
func (h *Handler) Invalidate(serverID string) {
	h.mu.Lock()
	h.serverGens.bump(serverID)
	delete(h.servers, serverID)
	h.mu.Unlock()
}

// InvalidateAll drops every cached server configuration, key-holder
// answer and credential list: change notices may have been missed (the
// subscription to them was re-established).
func (h *Handler) InvalidateAll() {
	h.mu.Lock()
	h.serverGens.bumpAll()
	clear(h.servers)
	h.holderGen++
	h.holders = nil
	h.mu.Unlock()
	h.creds2.dropAll()
}

// mcpServer is go-sdk's getServer: a map lookup of the server built for the
// request's (server, version, catalog version).
func (h *Handler) mcpServer(r *http.Request) *mcp.Server {
	c := callFrom(r.Context())
	if c == nil || c.view == nil {
		return nil
	}
	return h.built(c.entry, c.view).sdk
}

// builtServer is one server's tools: the go-sdk server that answers
// initialize and tools/list, and the same handlers by name for the
// tools/call fast path (ADR 8).
type builtServer struct {
	sdk   *mcp.Server
	tools map[string]mcp.ToolHandler
}

func (b *builtServer) add(t *mcp.Tool, fn mcp.ToolHandler) {
	b.sdk.AddTool(t, fn)
	b.tools[t.Name] = fn
}

func (h *Handler) built(e *serverEntry, v *registry.View) *builtServer {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.built[v.Version]; s != nil {
		return s
	}
	s := h.buildServer(e, v)
	// Keep only the newest catalog version: older ones are garbage.
	for k := range e.built {
		delete(e.built, k)
	}
	e.built[v.Version] = s
	return s
}

func (h *Handler) buildServer(e *serverEntry, v *registry.View) *builtServer {
	srv := e.server
	s := mcp.NewServer(&mcp.Implementation{Name: "patchbay", Title: srv.Name, Version: h.opts.Version}, &mcp.ServerOptions{
		Instructions:              srv.CustomInstructions,
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		PageSize:                  100000,
		SupportedProtocolVersions: protocolVersions,
		Logger:                    h.opts.Logger,
		// Tool lists depend on the caller's server and user (§5 issue):
		// never shared between users by caches.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private" },
	})
	b := &builtServer{sdk: s, tools: map[string]mcp.ToolHandler{}}
	if srv.Mode == patchbay.ModeDirect {
		h.addDirectTools(b, e, v)
		h.addCredentialTools(b)
	} else {
		h.addMetaTools(b)
	}
	return b
}
