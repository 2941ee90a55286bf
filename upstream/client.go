package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

var _ connector.MCPExecutor = (*Client)(nil)

// protocolVersion is the MCP revision Patchbay speaks upstream (§11.6).
const protocolVersion = "2025-06-18"

// Defaults of Options.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxSessions = 1024
	DefaultIdleTimeout = 5 * time.Minute
)

// maxListPages stops a listing whose cursors never end.
const maxListPages = 1000

// Options configures a Client. The zero value (or nil) gives the defaults.
type Options struct {
	// Timeout bounds one call or one listing, connection set-up included
	// (default 30 s, §17.4).
	Timeout time.Duration
	// Version is Patchbay's version, sent as the MCP clientInfo version and
	// in User-Agent: Patchbay/<version>.
	Version string
	// Now is the clock for session idle times (default time.Now).
	Now func() time.Time
	// MaxSessions bounds the cached upstream sessions; the least recently
	// used one is closed beyond it (default 1024; negative: no reuse, every
	// call opens and closes its own session).
	MaxSessions int
	// IdleTimeout retires a cached session unused for this long, before the
	// upstream forgets it (default 5 min).
	IdleTimeout time.Duration
	// CheckURL vets every request URL, redirects included, typically
	// (*ssrf.Guard).CheckURL; an error wrapping ssrf.ErrBlocked is reported
	// as destination_blocked. nil: only https is allowed.
	CheckURL func(*url.URL) error
}

// Client talks to upstream MCP servers. It is safe for concurrent use; Close
// ends its cached sessions.
type Client struct {
	mcp         *mcp.Client
	hc          *http.Client
	ua          string
	timeout     time.Duration
	now         func() time.Time
	maxSessions int
	idle        time.Duration

	mu       sync.Mutex
	sessions map[sessionKey]*session
	closed   bool
	calls    sync.WaitGroup // calls and listings in flight
	wg       sync.WaitGroup // sessions being closed in the background
}

// sessionKey identifies a reusable session: one per connector version and
// credential, so that a session never crosses credentials, users, accounts
// or a connector change.
type sessionKey struct {
	account    string
	connector  string
	version    int64
	url        string
	credential string
}

type session struct {
	key sessionKey
	cs  *mcp.ClientSession

	// Guarded by Client.mu.
	used   time.Time
	cached bool
	refs   int // calls using the session; it is closed only when none does
}

// New returns a Client that sends every request through httpClient, the
// SSRF-guarded client (§15). Its Transport, CheckRedirect and Timeout are
// kept; its cookie jar is not, as cookies must not cross credentials.
func New(httpClient *http.Client, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	base := httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	version := o.Version
	if version == "" {
		version = "dev"
	}
	check := o.CheckURL
	if check == nil {
		check = httpsOnly
	}
	impl := &mcp.Implementation{Name: "patchbay", Version: version}
	return &Client{
		// No capabilities: Patchbay answers no server-initiated requests
		// (roots, sampling, elicitation).
		mcp: mcp.NewClient(impl, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}),
		hc: &http.Client{
			Transport:     &transport{base: base, check: check},
			CheckRedirect: checkRedirect(httpClient.CheckRedirect),
			Timeout:       httpClient.Timeout,
		},
		ua:          "Patchbay/" + version,
		timeout:     o.Timeout,
		now:         o.Now,
		maxSessions: o.MaxSessions,
		idle:        o.IdleTimeout,
		sessions:    make(map[sessionKey]*session),
	}
}

// Close waits for calls in flight, then closes every cached session (each
// sends its best-effort DELETE) and waits until all sessions are closed.
// Calls after Close fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.calls.Wait()

	c.mu.Lock()
	for _, s := range c.sessions {
		c.retireLocked(s, nil)
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// begin registers a call in flight; Close waits for it.
func (c *Client) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	c.calls.Add(1)
	return nil
}

// connect opens and initializes a session with the endpoint. The request
// context of ctx must carry the call's exchange.
func (c *Client) connect(ctx context.Context, endpoint string) (*mcp.ClientSession, error) {
	t := &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: c.hc,
		// Patchbay only needs answers to its own requests.
		DisableStandaloneSSE: true,
		// Resuming an interrupted SSE stream re-sends nothing; keep it short
		// inside the call's budget.
		MaxRetries:   2,
		MaxEventSize: maxResponseBytes,
	}
	return c.mcp.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
}

// acquire returns a session for key: a cached one (fresh false) or a new one.
// A new session is cached when cacheable, evicting the least recently used
// one when the cache is full. The caller must call finish.
func (c *Client) acquire(ctx context.Context, key sessionKey, cacheable bool) (s *session, fresh bool, err error) {
	if cacheable {
		c.mu.Lock()
		if s = c.sessions[key]; s != nil {
			now := c.now()
			if now.Sub(s.used) < c.idle {
				s.used = now
				s.refs++
				c.mu.Unlock()
				return s, false, nil
			}
			c.retireLocked(s, nil)
		}
		c.mu.Unlock()
	}
	cs, err := c.connect(ctx, key.url)
	if err != nil {
		return nil, true, err
	}
	s = &session{key: key, cs: cs, refs: 1}
	if !cacheable {
		return s, true, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[key] != nil {
		// A concurrent call cached one first: this session serves this
		// call only.
		return s, true, nil
	}
	if len(c.sessions) >= c.maxSessions {
		var lru *session
		for _, o := range c.sessions {
			if lru == nil || o.used.Before(lru.used) {
				lru = o
			}
		}
		c.retireLocked(lru, nil)
	}
	s.used, s.cached = c.now(), true
	c.sessions[key] = s
	return s, true, nil
}

// finish ends a call's use of s. An unhealthy session leaves the cache; a
// session outside the cache is closed when its last call finishes. x (if
// not nil) is released, after the session's DELETE when this call closes it.
func (c *Client) finish(s *session, x *exchange, healthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.refs--
	if !healthy {
		c.retireLocked(s, x)
		return
	}
	if !s.cached && s.refs == 0 {
		c.closeLocked(s, x)
		return
	}
	if x != nil {
		x.release()
	}
}

// retireLocked takes s out of the cache and closes it unless a call still
// uses it (that call's finish closes it then). c.mu must be held.
func (c *Client) retireLocked(s *session, x *exchange) {
	if s.cached && c.sessions[s.key] == s {
		delete(c.sessions, s.key)
	}
	s.cached = false
	if s.refs == 0 {
		c.closeLocked(s, x)
	} else if x != nil {
		x.release()
	}
}

// closeLocked closes s in the background, then releases x (if any). c.mu
// must be held, which orders the WaitGroup's Add before Close's Wait.
func (c *Client) closeLocked(s *session, x *exchange) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = s.cs.Close()
		if x != nil {
			x.release()
		}
	}()
}

// ListTools lists the tools of the upstream MCP server at url (§11.6):
// initialize, notifications/initialized and tools/list following nextCursor,
// with only the connector's static headers. Each tool's InputSchema is the
// raw JSON (json.RawMessage) the upstream sent. Any failure is EInvalid with
// details.reason "upstream_unreachable" (and details.status for an HTTP
// error status).
func (c *Client) ListTools(ctx context.Context, url string, headers map[string]patchbay.Secret) ([]*mcp.Tool, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	defer c.calls.Done()
	x, err := newExchange(url, c.ua, staticFields(headers), nil)
	if err != nil {
		return nil, unreachable(observed{}, err, nil)
	}
	x.capturing = true
	secrets := secretSet(staticSecrets(headers)...)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, exchangeKey{}, x)

	cs, err := c.connect(ctx, url)
	if err != nil {
		x.release()
		return nil, unreachable(x.observed(), err, secrets)
	}
	defer func() {
		_ = cs.Close()
		x.release()
	}()
	var tools []*mcp.Tool
	seen := make(map[string]bool)
	params := &mcp.ListToolsParams{}
	for page := 0; ; page++ {
		res, err := cs.ListTools(ctx, params)
		if err != nil {
			return nil, unreachable(x.observed(), err, secrets)
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" {
			break
		}
		if seen[res.NextCursor] || page >= maxListPages {
			return nil, unreachable(observed{}, errCursorLoop, nil)
		}
		seen[res.NextCursor] = true
		params = &mcp.ListToolsParams{Cursor: res.NextCursor}
	}
	x.mu.Lock()
	captures := x.captures
	x.mu.Unlock()
	restoreSchemas(tools, captures)
	return tools, nil
}

// CallTool calls a's upstream tool (§11.6) with args (a JSON object; empty
// means {}) and the credential m (nil for a connector without
// authentication), within the client's timeout. It is the runtime's
// connector.MCPExecutor. The Result's Status and Header are those of the
// tools/call response; Attempts is 2 after a session was re-established.
//
// Sessions are cached per (connector version, credential) and
// re-established once, transparently, when the upstream answers 404 for
// one. Calls without a credential get a session of their own, as nothing
// tells two users apart.
//
// Errors: EUpstream for an isError result (details.result), a JSON-RPC error
// (details.rpcError {code, message}), an HTTP error status (details.status;
// a 401 also matches ErrUnauthorized, see IsUnauthorized), a refused
// redirect, a blocked destination (ssrf.ErrBlocked), an unreachable
// upstream or an invalid response (details.reason); EUpstreamTimeout
// (details.timeoutSeconds); any other *patchbay.Error from the caller's
// client as is. No error contains a secret.
func (c *Client) CallTool(ctx context.Context, conn *patchbay.Connector, a *patchbay.Action, args json.RawMessage, m *patchbay.CredentialMaterial) (*connector.Result, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	defer c.calls.Done()
	auth, query, err := material(conn, m)
	if err != nil {
		return nil, err
	}
	x, err := newExchange(conn.URL, c.ua, append(staticFields(conn.Headers), auth...), query)
	if err != nil {
		return nil, err
	}
	secrets := callSecrets(conn.Headers, auth, query, m)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, exchangeKey{}, x)

	key := sessionKey{account: conn.AccountID, connector: conn.ID, version: conn.Version, url: conn.URL}
	cacheable := m != nil && m.CredentialID != "" && c.maxSessions > 0
	if cacheable {
		key.credential = m.CredentialID
	}
	name := a.Tool
	if name == "" {
		name = a.ID
	}
	params := &mcp.CallToolParams{Name: name, Arguments: arguments(args)}

	for attempt := 1; ; attempt++ {
		s, fresh, err := c.acquire(ctx, key, cacheable)
		if err != nil {
			x.release()
			return nil, c.failure(ctx, x.observed(), err, false, secrets)
		}
		res, err := s.cs.CallTool(ctx, params)
		if err != nil && !fresh && attempt == 1 && sessionMissing(err, x.observed()) {
			// The upstream forgot the session: it ran nothing, so a new
			// session may send the call again.
			c.finish(s, nil, false)
			x.reset()
			continue
		}
		if err != nil {
			obs := x.observed()
			c.finish(s, x, upstreamRPCError(err) != nil && obs.status/100 == 2)
			return nil, c.failure(ctx, obs, err, true, secrets)
		}
		obs := x.observed()
		c.finish(s, x, true)
		value, err := resultValue(res, secrets)
		if err != nil {
			return nil, invalidResponse(err)
		}
		if res.IsError {
			return nil, patchbay.Errorf(patchbay.EUpstream, "Upstream tool returned an error").With("result", value)
		}
		return &connector.Result{Status: obs.status, Header: obs.header, Value: value, Attempts: attempt}, nil
	}
}

// arguments returns the tool arguments to send: args verbatim, or {}.
func arguments(args json.RawMessage) json.RawMessage {
	if len(args) == 0 || string(args) == "null" {
		return json.RawMessage("{}")
	}
	return args
}

func sessionMissing(err error, obs observed) bool {
	return errors.Is(err, mcp.ErrSessionMissing) || obs.status == http.StatusNotFound
}
