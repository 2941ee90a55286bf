package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/policy"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/registry"
	"github.com/patchbay-mcp/patchbay/strictjson"
)

// Store is what the MCP face reads.
type Store interface {
	FindServer(ctx context.Context, id string) (*patchbay.Server, error)
	UserHasAPIKey(ctx context.Context, accountID, userID string) (bool, error)
	FindAccount(ctx context.Context, id string) (*patchbay.Account, error)
	FindOAuthApp(ctx context.Context, accountID, connectorID string) (*patchbay.OAuthApp, error)
	patchbay.CredentialService
	patchbay.AuditService
}

// Authenticator resolves API keys and user JWTs.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body authn.Body) (*patchbay.Principal, error)
	VerifyJWT(ctx context.Context, token, accountID string, requireIssuer bool) (*authn.Claims, error)
}

// Registry resolves the connectors an account sees.
type Registry interface {
	View(ctx context.Context, accountID string) (*registry.View, error)
}

// Options configures the gateway.
type Options struct {
	PublicURL     string
	Version       string // serverInfo.version
	MaxBodyBytes  int64
	RateLimit     int           // default requests per minute (§9)
	ConfigTTL     time.Duration // bound on cached server configurations (§17.6)
	CacheTTL      time.Duration // read cache entries (§10.4)
	Now           func() time.Time
	Logger        *slog.Logger
	Metrics       *Metrics // nil: none
	OnRateLimited func()
	// SDKToolCalls routes tools/call through go-sdk's session machinery
	// as well, instead of the fast path (ADR 8); for comparisons.
	SDKToolCalls bool
}

// Handler serves /mcp.
type Handler struct {
	store    Store
	auth     Authenticator
	registry Registry
	limiter  *ratelimit.Limiter
	runtime  *connector.Runtime
	cache    connector.Cache
	creds    Credentials
	audit    *auditWriter
	opts     Options
	sdk      *mcp.StreamableHTTPHandler

	mu         sync.Mutex
	servers    map[string]*serverEntry
	serverGens generations // Invalidate calls per server ID (cache.go)
	holders    map[string]holderEntry
	holderGen  uint64             // counts KeysChanged calls (auth.go)
	refusals   ratelimit.Refusals // the first 429 per key and minute is audited
	toucher    *toucher
	creds2     *credCache
	specs      sync.Map // *patchbay.Action -> *shape.Spec
}

// New returns the MCP handler. Close flushes its audit queue.
func New(store Store, auth Authenticator, reg Registry, limiter *ratelimit.Limiter, runtime *connector.Runtime,
	cache connector.Cache, creds Credentials, opts *Options) *Handler {
	h := &Handler{store: store, auth: auth, registry: reg, limiter: limiter, runtime: runtime, cache: cache, creds: creds,
		servers: map[string]*serverEntry{}, serverGens: newGenerations()}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = 10 << 20
	}
	if h.opts.RateLimit <= 0 {
		h.opts.RateLimit = 100
	}
	if h.opts.ConfigTTL <= 0 {
		h.opts.ConfigTTL = 5 * time.Second
	}
	if h.opts.CacheTTL <= 0 {
		h.opts.CacheTTL = time.Hour
	}
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if h.opts.Version == "" {
		h.opts.Version = "dev"
	}
	h.audit = newAuditWriter(store, h.opts.Logger)
	h.toucher = newToucher(store, h.opts.Logger)
	h.creds2 = newCredCache(h.opts.ConfigTTL)
	h.sdk = mcp.NewStreamableHTTPHandler(h.mcpServer, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		JSONResponse:               false,
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        h.opts.MaxBodyBytes,
	})
	return h
}

// Close flushes queued audit events and lastUsedAt updates.
func (h *Handler) Close() {
	h.audit.close()
	h.toucher.close()
}

// call is what one MCP HTTP request carries into the tool handlers.
type call struct {
	ctx        context.Context // the inbound request's context: ends on disconnect (§17.4)
	principal  *patchbay.Principal
	server     *patchbay.Server
	entry      *serverEntry
	view       *registry.View
	credHeader string
	redirect   string
	requestID  string
	clientIP   string
	cacheHit   bool
	errCode    string // the code of the last tool error, for tool.called
	mu         sync.Mutex
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func (c *call) policy() *policy.Policy { return c.entry.policy }

// route identifies which of the three MCP routes a path is (§6.1).
type route struct {
	pattern  string
	serverID string
	token    string
}

func parseRoute(escaped string) (route, bool) {
	parts := strings.Split(escaped, "/")
	if len(parts) < 2 || parts[0] != "" || parts[1] != "mcp" {
		return route{}, false
	}
	seg := func(i int) (string, bool) {
		v, err := url.PathUnescape(parts[i])
		return v, err == nil && v != ""
	}
	switch len(parts) {
	case 2:
		return route{pattern: "/mcp"}, true
	case 3:
		id, ok := seg(2)
		return route{pattern: "/mcp/{serverId}", serverID: id}, ok
	case 4:
		id, ok1 := seg(2)
		tok, ok2 := seg(3)
		return route{pattern: "/mcp/{serverId}/{accessToken}", serverID: id, token: tok}, ok1 && ok2
	}
	return route{}, false
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := frontdoor.InfoFrom(r.Context())
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		info.SetRoute("unmatched")
		h.writeError(w, r, patchbay.Errorf(patchbay.ENotFound, "Not found"))
		return
	}
	info.SetRoute("POST " + rt.pattern)
	// §6.2 steps 1-4: transport checks, answered with JSON-RPC bodies.
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		frontdoor.WriteRPCError(w, http.StatusMethodNotAllowed, codeServer, "Method not allowed.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		frontdoor.WriteRPCError(w, http.StatusUnsupportedMediaType, codeServer, "Unsupported Media Type: Content-Type must be application/json")
		return
	}
	if !acceptsBoth(r.Header.Values("Accept")) {
		frontdoor.WriteRPCError(w, http.StatusNotAcceptable, codeServer, "Not Acceptable: Client must accept both application/json and text/event-stream")
		return
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		frontdoor.WriteRPCError(w, http.StatusRequestEntityTooLarge, codeServer, "Payload Too Large")
		return
	}
	// Step 5: the gateway layer.
	if hdr := strings.TrimSpace(r.Header.Get("x-mcp-server-id")); rt.pattern == "/mcp" {
		if hdr == "" {
			h.writeError(w, r, patchbay.Errorf(patchbay.EInvalid, "x-mcp-server-id is required on /mcp").Field("x-mcp-server-id"))
			return
		}
		rt.serverID = hdr
	} else if hdr != "" && hdr != rt.serverID {
		h.writeError(w, r, patchbay.Errorf(patchbay.EInvalid, "x-mcp-server-id differs from the server in the path").Field("x-mcp-server-id"))
		return
	}
	// Authentication comes before the body is read (§6.2 step 5); only a
	// request signature needs the body, and then reads it itself.
	var body []byte
	var bodyErr error
	read := false
	readBody := func() ([]byte, error) {
		if !read {
			read = true
			body, bodyErr = io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
		}
		return body, bodyErr
	}
	bodyFailed := func() bool {
		if bodyErr == nil {
			return false
		}
		var mbe *http.MaxBytesError
		if errors.As(bodyErr, &mbe) {
			frontdoor.WriteRPCError(w, http.StatusRequestEntityTooLarge, codeServer, "Payload Too Large")
		} else {
			frontdoor.WriteRPCError(w, http.StatusBadRequest, codeParse, "Parse error")
		}
		return true
	}
	var c *call
	var err error
	if rt.token != "" {
		if c, err = h.tokenServer(r, rt); err == nil {
			if _, _ = readBody(); bodyFailed() {
				return
			}
			err = h.tokenUser(r.Context(), r, c)
		}
	} else {
		c, err = h.authenticate(r, rt, readBody)
	}
	if bodyFailed() {
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, _ = readBody(); bodyFailed() {
		return
	}
	info.SetAccount(c.principal.AccountID, c.server.ID)
	// Stores keyed by account (the shared read cache) read the principal
	// from the context.
	c.ctx = patchbay.NewContext(c.ctx, c.principal)
	if err := h.rateLimit(w, r, c); err != nil {
		h.writeError(w, r, err)
		return
	}
	if !c.policy().AllowUser(c.principal.UserID) {
		h.denied(c, "user_not_allowed", "", "", "")
		h.writeError(w, r, patchbay.Errorf(patchbay.EForbidden, "User not allowed").Reason("user_not_allowed"))
		return
	}
	// Steps 6-8: the JSON-RPC message.
	msg, fail := parseMessage(body)
	if fail != nil {
		frontdoor.WriteRPCError(w, fail.status, fail.code, fail.message)
		return
	}
	if pv := r.Header.Get("MCP-Protocol-Version"); pv != "" && msg.Method != "initialize" && !supportedVersion(pv) {
		frontdoor.WriteRPCError(w, http.StatusBadRequest, codeServer, "Bad Request: Unsupported protocol version")
		return
	}
	if msg.ID == nil {
		w.WriteHeader(http.StatusAccepted) // a notification: accepted, not forwarded
		return
	}
	if paramsRequired[msg.Method] && !isObject(msg.Params) {
		writeSSE(w, rpcError(msg.ID, codeInvalidParams, "Invalid params"))
		return
	}
	if msg.Params != nil && !isObject(msg.Params) {
		writeSSE(w, rpcError(msg.ID, codeInvalidParams, "Invalid params"))
		return
	}
	switch msg.Method {
	case "ping":
		writeSSE(w, rpcResult(msg.ID, `{}`))
	case "resources/list":
		writeSSE(w, rpcResult(msg.ID, `{"resources":[]}`))
	case "resources/templates/list":
		writeSSE(w, rpcResult(msg.ID, `{"resourceTemplates":[]}`))
	case "prompts/list":
		writeSSE(w, rpcResult(msg.ID, `{"prompts":[]}`))
	case "logging/setLevel":
		writeSSE(w, rpcResult(msg.ID, `{}`))
	case "resources/read", "prompts/get":
		writeSSE(w, rpcError(msg.ID, codeInvalidParams, "Invalid params"))
	case "initialize", "tools/list", "tools/call":
		var cp callParams
		if msg.Method == "tools/call" {
			var fail string
			if cp, fail = parseCallParams(msg.Params); fail != "" {
				writeSSE(w, rpcError(msg.ID, codeInvalidParams, "Invalid params: "+fail))
				return
			}
		}
		if msg.Method == "initialize" {
			r.Header.Del("MCP-Protocol-Version")
		}
		view, err := h.registry.View(r.Context(), c.principal.AccountID)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		c.view = view
		if msg.Method == "tools/call" && !h.opts.SDKToolCalls {
			h.callTool(w, r, c, h.built(c.entry, view), msg.ID, cp)
			return
		}
		hw := &hitWriter{ResponseWriter: w, c: c}
		body, hw.id = sdkSafeID(body, msg.ID)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		ctx := context.WithValue(r.Context(), callKey{}, c)
		h.sdk.ServeHTTP(hw, r.WithContext(ctx))
	default:
		writeSSE(w, rpcError(msg.ID, codeMethodNotFound, "Method not found"))
	}
}

// callParams are the exact-case members of tools/call params.
type callParams struct {
	name      string
	arguments json.RawMessage
}

// parseCallParams makes sure the SDK (and the fast path) see tools/call
// params with exactly the member names of the protocol: a case variant
// such as "Name" must not be read as the tool name by a case-insensitive
// decoder (§7, parser differential). It returns the problem, or "".
func parseCallParams(p []byte) (callParams, string) {
	var cp callParams
	var name []byte
	problem := ""
	err := strictjson.Members(p, func(k, v []byte) error {
		switch string(k) {
		case "name":
			name = v
		case "arguments":
			cp.arguments = v
		case "_meta":
		default:
			if problem == "" {
				problem = "unknown member " + string(k)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return cp, "params must be an object"
	case problem != "":
		return cp, problem
	}
	var ok bool
	if cp.name, ok = jsonString(name); !ok {
		return cp, "name must be a string"
	}
	if cp.arguments != nil && !isObject(cp.arguments) && string(cp.arguments) != "null" {
		return cp, "arguments must be an object"
	}
	if string(cp.arguments) == "null" {
		cp.arguments = nil
	}
	return cp, ""
}

// hitWriter adds X-Cache-Hit when a tool handler recorded a cache hit
// (§10.4): go-sdk gives handlers no ResponseWriter.
type hitWriter struct {
	http.ResponseWriter
	c     *call
	wrote bool
	id    json.RawMessage // the original id when the SDK saw a replacement (idswap.go)
}

func (w *hitWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.c.mu.Lock()
		hit := w.c.cacheHit
		w.c.mu.Unlock()
		if hit {
			w.Header().Set("X-Cache-Hit", "true")
		}
		// The SDK adds no-transform and keep-alive; the contract allows both.
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *hitWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.id != nil {
		if _, err := w.ResponseWriter.Write(restoreID(b, w.id)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *hitWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *hitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.WriteError(w, r, h.opts.Logger, err)
}
