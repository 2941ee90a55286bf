package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/strictjson"
)

// Store is what the management face reads and writes.
type Store interface {
	patchbay.AccountService
	patchbay.APIKeyService
	patchbay.ServerService
	patchbay.AuditService
	patchbay.ConnectorService
	patchbay.CredentialService
	patchbay.OAuthAppService
}

// Sealer seals and opens records with the account's data key.
type Sealer interface {
	Seal(ctx context.Context, accountID, recordID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, accountID, recordID string, ciphertext []byte) ([]byte, error)
}

// Authenticator resolves management principals.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body authn.Body) (*patchbay.Principal, error)
	InvalidateKey(keyID string)
	InvalidateAccount(accountID string)
}

// Options configures the management face.
type Options struct {
	PublicURL     string // without trailing slash
	MaxBodyBytes  int64  // default 10 MiB
	MgmtRateLimit int    // per minute; default 600
	Now           func() time.Time
	Logger        *slog.Logger
	// Changed is told about every committed change that caches elsewhere
	// (the gateway, other instances) must drop: kind is "server", "key" or
	// "account".
	Changed func(ctx context.Context, kind, id string)
	// OnRateLimited counts 429s (metrics).
	OnRateLimited func()
	// Catalog serves the connector endpoints.
	Catalog Catalog
	// Credentials serves the credential and OAuth app endpoints.
	Credentials Credentials
}

// Handler serves /api.
type Handler struct {
	store   Store
	vault   Sealer
	auth    Authenticator
	limiter *ratelimit.Limiter
	opts    Options
	catalog Catalog
	creds   Credentials
	router  router

	refusals ratelimit.Refusals // first 429 per key and minute is audited
}

// New returns the management handler.
func New(store Store, vault Sealer, auth Authenticator, limiter *ratelimit.Limiter, opts *Options) *Handler {
	h := &Handler{store: store, vault: vault, auth: auth, limiter: limiter}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = 10 << 20
	}
	if h.opts.MgmtRateLimit <= 0 {
		h.opts.MgmtRateLimit = 600
	}
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if h.opts.Changed == nil {
		h.opts.Changed = func(context.Context, string, string) {}
	}
	h.catalog, h.creds = h.opts.Catalog, h.opts.Credentials
	h.routes()
	return h
}

// call is one authenticated management request.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	p    *patchbay.Principal
	body []byte
}

type handlerFunc func(c *call) error

// access says who may call an endpoint.
type access int

const (
	anyPrincipal access = 1 << iota
	adminOnly
	yamlBody // the body may also be YAML (§11.4)
)

func (h *Handler) api(method, pattern string, need access, fn handlerFunc) {
	h.router.handle(method, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frontdoor.InfoFrom(r.Context()).SetRoute(method + " " + pattern)
		if err := h.serve(w, r, need, fn); err != nil {
			h.writeError(w, r, err)
		}
	}))
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	frontdoor.WriteError(w, r, h.opts.Logger, err)
}

// ServeHTTP routes a request under /api.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ro := h.router.match(r)
	if ro == nil {
		h.writeError(w, r, patchbay.Errorf(patchbay.ENotFound, "Not found"))
		return
	}
	hh, ok := ro.methods[r.Method]
	if !ok {
		w.Header().Set("Allow", ro.allow())
		h.writeError(w, r, patchbay.Errorf(patchbay.EMethodNotAllowed, "Method not allowed"))
		return
	}
	hh.ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, need access, fn handlerFunc) error {
	if r.ContentLength > h.opts.MaxBodyBytes {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return patchbay.Errorf(patchbay.EInvalid, "could not read the request body").Wrap(err)
	}
	p, err := h.auth.Authenticate(r.Context(), r, func() ([]byte, error) { return body, nil })
	if err != nil {
		var denied *authn.DeniedError
		if errors.As(err, &denied) {
			reason, _ := patchbay.ErrorDetails(err)["reason"].(string)
			h.auditDenied(r, denied.Principal, reason)
		}
		return err
	}
	frontdoor.InfoFrom(r.Context()).SetAccount(p.AccountID, "")
	if err := h.rateLimit(w, r, p); err != nil {
		return err
	}
	if need&adminOnly != 0 && !p.IsAdmin() {
		h.auditDenied(r, p, "admin_required")
		return patchbay.Errorf(patchbay.EForbidden, "This endpoint requires an admin API key").Reason("admin_required")
	}
	if len(body) > 0 {
		if err := checkContentType(r.Header.Get("Content-Type"), need&yamlBody != 0); err != nil {
			return err
		}
	}
	return fn(&call{w: w, r: r, p: p, body: body})
}

func tooLarge() error {
	return patchbay.Errorf(patchbay.ETooLarge, "Request body too large")
}

func checkContentType(ct string, yamlOK bool) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || yamlOK && (mt == "application/yaml" || mt == "application/x-yaml")) {
		return nil
	}
	if yamlOK {
		return patchbay.Errorf(patchbay.EUnsupportedMedia, "Content-Type must be application/json or application/yaml")
	}
	return patchbay.Errorf(patchbay.EUnsupportedMedia, "Content-Type must be application/json")
}

func (h *Handler) rateLimit(w http.ResponseWriter, r *http.Request, p *patchbay.Principal) error {
	key := "mgmt:key:" + p.KeyID
	if p.KeyID == "" {
		key = "mgmt:jwt:" + p.AccountID + ":" + p.UserID
	}
	d, err := h.limiter.Allow(r.Context(), ratelimit.Rule{Key: key, Limit: h.opts.MgmtRateLimit})
	if err != nil {
		return patchbay.Errorf(patchbay.EUnavailable, "rate limiter unavailable").Wrap(err)
	}
	now := h.opts.Now()
	frontdoor.SetRateLimitHeaders(w.Header(), d, now)
	if !d.Allowed {
		if h.opts.OnRateLimited != nil {
			h.opts.OnRateLimited()
		}
		h.auditRateLimited(r, p, key, d, now)
		return frontdoor.RateLimited(d, now)
	}
	return nil
}

// auditRateLimited records rate.limited for the first 429 of a key per
// minute (§16), so that a client hammering a closed window does not flood
// the audit log.
func (h *Handler) auditRateLimited(r *http.Request, p *patchbay.Principal, key string, d ratelimit.Decision, now time.Time) {
	if !h.refusals.First(key, now) {
		return
	}
	e := h.event(r, p, "rate.limited", patchbay.OutcomeDenied)
	e.ErrorCode = patchbay.ERateLimited
	e.Details = map[string]any{"limit": d.Limit}
	if err := h.store.WriteAudit(r.Context(), e); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "audit write failed", "type", e.Type, "error", err.Error())
	}
}

// decode decodes the call's body strictly into v. An empty body decodes as {}.
func (c *call) decode(v any) error {
	body := c.body
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	return strictjson.Decode(body, v, strictjson.Options{MaxArray: 1000})
}

func (c *call) json(status int, v any) error {
	frontdoor.WriteJSON(c.w, status, v)
	return nil
}

// actor returns the audit actor of a principal.
func actor(p *patchbay.Principal) patchbay.Actor {
	return patchbay.Actor{Kind: p.Kind, KeyID: p.KeyID, UserID: p.UserID}
}

var _ Authenticator = (*authn.Authenticator)(nil)
