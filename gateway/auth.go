package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/ratelimit"
)

func unauthorized(reason string) *patchbay.Error {
	e := patchbay.Errorf(patchbay.EUnauthorized, "Invalid or missing authentication")
	if reason != "" {
		e.Reason(reason)
	}
	return e
}

func notFound() *patchbay.Error { return patchbay.Errorf(patchbay.ENotFound, "Not found") }

func newCall(r *http.Request) *call {
	ctx := r.Context()
	info := frontdoor.InfoFrom(ctx)
	return &call{ctx: ctx, requestID: info.RequestID, clientIP: info.ClientIP,
		credHeader: strings.TrimSpace(r.Header.Get("x-credential-id")), redirect: strings.TrimSpace(r.Header.Get("x-redirect-uri"))}
}

// authenticate resolves the server, the principal and the effective user
// of the API-key and JWT routes (§6.4, §6.5). The body is needed for a
// request signature (§4.6).
func (h *Handler) authenticate(r *http.Request, rt route, body authn.Body) (*call, error) {
	ctx := r.Context()
	c := newCall(r)
	p, err := h.auth.Authenticate(ctx, r, body)
	if err != nil {
		return nil, err
	}
	e, err := h.serverEntry(ctx, rt.serverID)
	if err != nil {
		if patchbay.IsCode(err, patchbay.ENotFound) {
			return nil, notFound()
		}
		return nil, err
	}
	srv := e.server
	if srv.AccountID != p.AccountID {
		return nil, notFound()
	}
	if !p.IsAdmin() && p.UserID != srv.OwnerID && !srv.IsPublic {
		return nil, notFound()
	}
	p.ServerID = srv.ID
	c.principal, c.server, c.entry = p, srv, e
	return c, nil
}

// tokenServer authenticates the token route: every failure is the same 401
// (no existence oracle). It needs no body, so it runs before the body is
// read (§6.2 step 5: authentication, then the body).
func (h *Handler) tokenServer(r *http.Request, rt route) (*call, error) {
	ctx := r.Context()
	c := newCall(r)
	e, err := h.serverEntry(ctx, rt.serverID)
	if err != nil {
		if patchbay.IsCode(err, patchbay.ENotFound) {
			return nil, unauthorized("")
		}
		return nil, err
	}
	srv := e.server
	if !authn.CheckServerToken(srv, rt.token, h.opts.Now()) {
		h.authFailed(c, srv, "invalid_token")
		return nil, unauthorized("")
	}
	p := &patchbay.Principal{AccountID: srv.AccountID, Kind: patchbay.ActorServerToken, ServerID: srv.ID, Role: patchbay.RoleUser}
	c.principal, c.server, c.entry = p, srv, e
	return c, nil
}

// tokenUser resolves the effective user of a token-URL request (§6.5).
func (h *Handler) tokenUser(ctx context.Context, r *http.Request, c *call) error {
	srv, p := c.server, c.principal
	if tok := strings.TrimSpace(r.Header.Get("x-alloy-user-token")); tok != "" {
		claims, err := h.auth.VerifyJWT(ctx, tok, srv.AccountID, false)
		if err != nil {
			return err
		}
		p.UserID = claims.UserID
		return nil
	}
	uid, err := authn.UserIDHeader(r)
	if err != nil {
		return err
	}
	switch {
	case uid != "" && srv.IsPublic && !srv.AllowUnverifiedUserIDs:
		return unauthorized("user_token_required")
	case uid != "" && srv.IsPublic:
		// An unverified identity may never be the owner or a key holder (§6.5 a).
		if uid == srv.OwnerID {
			return patchbay.Errorf(patchbay.EForbidden, "User not allowed").Reason("user_not_allowed")
		}
		holds, err := h.keyHolder(ctx, srv.AccountID, uid)
		if err != nil {
			return err
		}
		if holds {
			return patchbay.Errorf(patchbay.EForbidden, "User not allowed").Reason("user_not_allowed")
		}
		p.UserID, p.Unverified = uid, true
	case uid != "":
		if uid != srv.OwnerID {
			return patchbay.Errorf(patchbay.EForbidden, "A private server's token URL acts only as its owner").Reason("user_not_allowed")
		}
		p.UserID = uid
	case srv.IsPublic:
		return unauthorized("user_token_required")
	default:
		p.UserID = srv.OwnerID
	}
	return nil
}

// keyHolder reports whether the user holds an API key of the account,
// cached for the config TTL.
func (h *Handler) keyHolder(ctx context.Context, accountID, userID string) (bool, error) {
	key := accountID + "\x00" + userID
	now := h.opts.Now()
	h.mu.Lock()
	kh, ok := h.holders[key]
	gen := h.holderGen
	h.mu.Unlock()
	if ok && now.Before(kh.expires) {
		return kh.holds, nil
	}
	holds, err := h.store.UserHasAPIKey(ctx, accountID, userID)
	if err != nil {
		if ok && now.Sub(kh.expires.Add(-h.opts.ConfigTTL)) < staleLimit {
			return kh.holds, nil // through a store outage (§17.5)
		}
		return false, patchbay.Errorf(patchbay.EUnavailable, "store unavailable").Wrap(err)
	}
	h.mu.Lock()
	if h.holders == nil {
		h.holders = map[string]holderEntry{}
	}
	if h.holderGen == gen { // no key changed while the store was read
		h.holders[key] = holderEntry{holds: holds, expires: now.Add(h.opts.ConfigTTL)}
	}
	h.mu.Unlock()
	return holds, nil
}

// KeysChanged forgets which users hold API keys: a user who just got a key
// must not pass as an unverified identity (§6.5 a) until the config TTL
// ends. Call it after an API key is created or deleted.
func (h *Handler) KeysChanged() {
	h.mu.Lock()
	h.holderGen++
	h.holders = nil
	h.mu.Unlock()
}

type holderEntry struct {
	holds   bool
	expires time.Time
}

// rateLimit applies §9: per (server, effective user), plus the aggregate
// window of unverified identities.
func (h *Handler) rateLimit(w http.ResponseWriter, r *http.Request, c *call) error {
	n := c.server.RateLimit
	if n <= 0 {
		n = h.opts.RateLimit
	}
	rules := []ratelimit.Rule{{Key: "mcp\x00" + c.server.ID + "\x00" + c.principal.UserID, Limit: n}}
	if c.principal.Unverified {
		rules = append(rules, ratelimit.Rule{Key: "mcp-unverified\x00" + c.server.ID, Limit: 10 * n})
	}
	d, err := h.limiter.Allow(r.Context(), rules...)
	if err != nil {
		return patchbay.Errorf(patchbay.EUnavailable, "rate limiter unavailable").Wrap(err)
	}
	now := h.opts.Now()
	frontdoor.SetRateLimitHeaders(w.Header(), d, now)
	if d.Allowed {
		return nil
	}
	if h.opts.OnRateLimited != nil {
		h.opts.OnRateLimited()
	}
	h.rateLimitedAudit(c, d)
	return frontdoor.RateLimited(d, now)
}
