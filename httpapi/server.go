package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ids"
	sj "github.com/patchbay-mcp/patchbay/strictjson"
)

type rateLimitJSON struct {
	RequestsPerMinute sj.Optional[int] `json:"requestsPerMinute"`
}

// serverFields are the writable members shared by create and update.
type serverFields struct {
	Name                        sj.Optional[string]                `json:"name"`
	Description                 sj.Optional[string]                `json:"description"`
	CustomInstructions          sj.Optional[string]                `json:"customInstructions"`
	Mode                        sj.Optional[string]                `json:"mode"`
	IsPublic                    sj.Optional[bool]                  `json:"isPublic"`
	Restrictions                sj.Optional[patchbay.Restrictions] `json:"restrictions"`
	RateLimit                   sj.Optional[rateLimitJSON]         `json:"rateLimit"`
	Cache                       sj.Optional[bool]                  `json:"cache"`
	AllowUnverifiedUserIds      sj.Optional[bool]                  `json:"allowUnverifiedUserIds"`
	AllowSecretsInToolArguments sj.Optional[bool]                  `json:"allowSecretsInToolArguments"`
}

type createServerRequest struct {
	serverFields
	TokenExpiresInDays sj.Optional[int] `json:"tokenExpiresInDays"`
}

// updateServerRequest also names the response-only members, so that they
// get "not updatable" rather than "unknown field".
type updateServerRequest struct {
	serverFields
	TokenExpiresInDays sj.Optional[json.RawMessage] `json:"tokenExpiresInDays"`
	ServerID           sj.Optional[json.RawMessage] `json:"serverId"`
	AccessToken        sj.Optional[json.RawMessage] `json:"accessToken"`
	URL                sj.Optional[json.RawMessage] `json:"url"`
	AccessURL          sj.Optional[json.RawMessage] `json:"accessUrl"`
	TokenExpiresAt     sj.Optional[json.RawMessage] `json:"tokenExpiresAt"`
	HasRestrictions    sj.Optional[json.RawMessage] `json:"hasRestrictions"`
	CreatedAt          sj.Optional[json.RawMessage] `json:"createdAt"`
	UpdatedAt          sj.Optional[json.RawMessage] `json:"updatedAt"`
}

func notNull(field string, null bool) error {
	if null {
		return patchbay.Errorf(patchbay.EInvalid, "%s must not be null", field).Field(field)
	}
	return nil
}

// apply copies the present fields onto s and lists what changed.
func (f *serverFields) apply(s *patchbay.Server) ([]string, error) {
	var changed []string
	mark := func(name string, differs bool) {
		if differs {
			changed = append(changed, name)
		}
	}
	if f.Name.Set {
		if err := notNull("name", f.Name.Null); err != nil {
			return nil, err
		}
		name := strings.TrimSpace(f.Name.Value)
		mark("name", name != s.Name)
		s.Name = name
	}
	if f.Description.Set {
		mark("description", f.Description.Value != s.Description)
		s.Description = f.Description.Value // null clears to ""
	}
	if f.CustomInstructions.Set {
		mark("customInstructions", f.CustomInstructions.Value != s.CustomInstructions)
		s.CustomInstructions = f.CustomInstructions.Value
	}
	if f.Mode.Set {
		if err := notNull("mode", f.Mode.Null); err != nil {
			return nil, err
		}
		mark("mode", f.Mode.Value != s.Mode)
		s.Mode = f.Mode.Value
	}
	if f.IsPublic.Set {
		if err := notNull("isPublic", f.IsPublic.Null); err != nil {
			return nil, err
		}
		mark("isPublic", f.IsPublic.Value != s.IsPublic)
		s.IsPublic = f.IsPublic.Value
	}
	if f.Restrictions.Set {
		r := f.Restrictions.Value // null and {} both remove all restrictions
		if err := r.Validate("restrictions"); err != nil {
			return nil, err
		}
		old, _ := json.Marshal(&s.Restrictions)
		now, _ := json.Marshal(&r)
		mark("restrictions", string(old) != string(now))
		s.Restrictions = r
	}
	if f.RateLimit.Set {
		n := 0
		if !f.RateLimit.Null {
			rpm := f.RateLimit.Value.RequestsPerMinute
			if !rpm.Set || rpm.Null || rpm.Value < 1 || rpm.Value > patchbay.MaxRequestsPerMinute {
				return nil, patchbay.Errorf(patchbay.EInvalid, "rateLimit.requestsPerMinute must be an integer from 1 to %d",
					patchbay.MaxRequestsPerMinute).Field("rateLimit.requestsPerMinute")
			}
			n = rpm.Value
		}
		mark("rateLimit", n != s.RateLimit)
		s.RateLimit = n
	}
	for _, b := range []struct {
		name string
		opt  sj.Optional[bool]
		dst  *bool
	}{
		{"cache", f.Cache, &s.Cache},
		{"allowUnverifiedUserIds", f.AllowUnverifiedUserIds, &s.AllowUnverifiedUserIDs},
		{"allowSecretsInToolArguments", f.AllowSecretsInToolArguments, &s.AllowSecretsInToolArguments},
	} {
		if !b.opt.Set {
			continue
		}
		if err := notNull(b.name, b.opt.Null); err != nil {
			return nil, err
		}
		mark(b.name, b.opt.Value != *b.dst)
		*b.dst = b.opt.Value
	}
	return changed, s.Validate()
}

// tokenDays reads tokenExpiresInDays. null is not a way to ask for the
// default: only fields whose table says so accept null (§2).
func tokenDays(o sj.Optional[int]) (int, error) {
	if !o.Set {
		return patchbay.DefaultTokenDays, nil
	}
	if o.Null || o.Value < 1 || o.Value > patchbay.MaxTokenDays {
		return 0, patchbay.Errorf(patchbay.EInvalid, "tokenExpiresInDays must be an integer from 1 to %d", patchbay.MaxTokenDays).Field("tokenExpiresInDays")
	}
	return o.Value, nil
}

// newToken draws an access token and returns it with its hash and sealed form.
func (h *Handler) newToken(ctx context.Context, accountID, serverID string) (token string, hash, sealed []byte, err error) {
	token = ids.ServerToken()
	sum := sha256.Sum256([]byte(token))
	sealed, err = h.vault.Seal(ctx, accountID, serverID, []byte(token))
	return token, sum[:], sealed, err
}

func (h *Handler) now() time.Time { return h.opts.Now().UTC().Truncate(time.Second) }

func (h *Handler) createServer(c *call) error {
	var req createServerRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if !req.Name.Set {
		return patchbay.Errorf(patchbay.EInvalid, "name must be 1 to %d characters", patchbay.MaxServerName).Field("name")
	}
	days, err := tokenDays(req.TokenExpiresInDays)
	if err != nil {
		return err
	}
	now := h.now()
	s := &patchbay.Server{AccountID: c.p.AccountID, OwnerID: c.p.UserID, Mode: patchbay.ModeConnectivity, Cache: true,
		TokenExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour), CreatedAt: now, UpdatedAt: now}
	if _, err := req.apply(s); err != nil {
		return err
	}
	ctx := c.r.Context()
	var token string
	for attempt := 0; ; attempt++ {
		s.ID = patchbay.Slug(s.Name) + "-" + ids.Hex(nil, 8)
		if token, s.TokenHash, s.TokenSealed, err = h.newToken(ctx, s.AccountID, s.ID); err != nil {
			return err
		}
		err = h.store.CreateServer(ctx, s)
		if err == nil {
			break
		}
		if attempt < 5 && patchbay.ErrorDetails(err)["reason"] == "id_taken" {
			continue
		}
		return err
	}
	h.opts.Changed(ctx, "server", s.ID)
	h.audit(c, "server.created", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) { e.ServerID = s.ID })
	c.w.Header().Set("Location", "/api/servers/"+s.ID)
	return c.json(http.StatusCreated, h.serverJSON(s, token))
}

// visibleServer returns the server if the acting user owns it in the
// principal's account; otherwise 404 (§5).
func (h *Handler) visibleServer(c *call) (*patchbay.Server, error) {
	s, err := h.store.FindServer(c.r.Context(), c.r.PathValue("serverId"))
	if err != nil {
		return nil, err
	}
	if s.AccountID != c.p.AccountID || s.OwnerID != c.p.UserID {
		return nil, patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return s, nil
}

func (h *Handler) getServer(c *call) error {
	s, err := h.visibleServer(c)
	if err != nil {
		return err
	}
	token, err := h.openToken(c.r.Context(), s)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, h.serverJSON(s, "", token))
}

func (h *Handler) openToken(ctx context.Context, s *patchbay.Server) (string, error) {
	b, err := h.vault.Open(ctx, s.AccountID, s.ID, s.TokenSealed)
	return string(b), err
}

func (h *Handler) listServers(c *call) error {
	q := c.r.URL.Query()
	limit, err := intParam(q.Get("limit"), q.Has("limit"), "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	offset, err := intParam(q.Get("offset"), q.Has("offset"), "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	servers, total, err := h.store.ListServers(c.r.Context(), c.p.AccountID, c.p.UserID, limit, offset)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(servers))
	for _, s := range servers {
		token, err := h.openToken(c.r.Context(), s)
		if err != nil {
			return err
		}
		items = append(items, h.serverJSON(s, "", token))
	}
	return c.json(http.StatusOK, map[string]any{"servers": items, "count": total, "limit": limit, "offset": offset,
		"hasMore": offset+len(servers) < total})
}

func intParam(v string, present bool, field string, def, lo, hi int) (int, error) {
	if !present {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, patchbay.Errorf(patchbay.EInvalid, "%s must be an integer from %d to %d", field, lo, hi).Field(field)
	}
	return n, nil
}

func (h *Handler) updateServer(c *call) error {
	var req updateServerRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	for _, ro := range []struct {
		name string
		set  bool
	}{{"tokenExpiresInDays", req.TokenExpiresInDays.Set}, {"serverId", req.ServerID.Set}, {"accessToken", req.AccessToken.Set},
		{"url", req.URL.Set}, {"accessUrl", req.AccessURL.Set}, {"tokenExpiresAt", req.TokenExpiresAt.Set},
		{"hasRestrictions", req.HasRestrictions.Set}, {"createdAt", req.CreatedAt.Set}, {"updatedAt", req.UpdatedAt.Set}} {
		if ro.set {
			return patchbay.Errorf(patchbay.EInvalid, "%s cannot be updated", ro.name).Field(ro.name).Reason("not_updatable")
		}
	}
	if _, err := h.visibleServer(c); err != nil {
		return err
	}
	var changed []string
	s, err := h.store.UpdateServer(c.r.Context(), c.p.AccountID, c.r.PathValue("serverId"), func(s *patchbay.Server) (bool, error) {
		if s.OwnerID != c.p.UserID {
			return false, patchbay.Errorf(patchbay.ENotFound, "server not found")
		}
		var err error
		changed, err = req.apply(s)
		return len(changed) > 0, err
	})
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		h.opts.Changed(c.r.Context(), "server", s.ID)
		h.audit(c, "server.updated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
			e.ServerID = s.ID
			e.Details = map[string]any{"changedFields": changed}
		})
	}
	token, err := h.openToken(c.r.Context(), s)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, h.serverJSON(s, "", token))
}

func (h *Handler) deleteServer(c *call) error {
	s, err := h.visibleServer(c)
	if err != nil {
		return err
	}
	if err := h.store.DeleteServer(c.r.Context(), c.p.AccountID, s.ID); err != nil {
		return err
	}
	h.opts.Changed(c.r.Context(), "server", s.ID)
	h.audit(c, "server.deleted", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) { e.ServerID = s.ID })
	return c.json(http.StatusOK, map[string]any{"message": "Server deleted", "serverId": s.ID})
}

type regenerateRequest struct {
	TokenExpiresInDays sj.Optional[int] `json:"tokenExpiresInDays"`
}

func (h *Handler) regenerateToken(c *call) error {
	var req regenerateRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	days, err := tokenDays(req.TokenExpiresInDays)
	if err != nil {
		return err
	}
	if _, err := h.visibleServer(c); err != nil {
		return err
	}
	var token string
	s, err := h.store.UpdateServer(c.r.Context(), c.p.AccountID, c.r.PathValue("serverId"), func(s *patchbay.Server) (bool, error) {
		if s.OwnerID != c.p.UserID {
			return false, patchbay.Errorf(patchbay.ENotFound, "server not found")
		}
		var err error
		token, s.TokenHash, s.TokenSealed, err = h.newToken(c.r.Context(), s.AccountID, s.ID)
		s.TokenExpiresAt = h.now().Add(time.Duration(days) * 24 * time.Hour)
		return true, err
	})
	if err != nil {
		return err
	}
	// The old token must be refused before this response is sent (§6.4).
	h.opts.Changed(c.r.Context(), "server", s.ID)
	h.audit(c, "server.token_regenerated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) { e.ServerID = s.ID })
	return c.json(http.StatusOK, h.serverJSON(s, token))
}

type serverOut struct {
	ServerID                    string                 `json:"serverId"`
	Name                        string                 `json:"name"`
	Description                 string                 `json:"description"`
	CustomInstructions          string                 `json:"customInstructions"`
	Mode                        string                 `json:"mode"`
	IsPublic                    bool                   `json:"isPublic"`
	Restrictions                *patchbay.Restrictions `json:"restrictions"`
	HasRestrictions             bool                   `json:"hasRestrictions"`
	RateLimit                   *rateLimitOut          `json:"rateLimit"`
	Cache                       bool                   `json:"cache"`
	AllowUnverifiedUserIDs      bool                   `json:"allowUnverifiedUserIds"`
	AllowSecretsInToolArguments bool                   `json:"allowSecretsInToolArguments"`
	URL                         string                 `json:"url"`
	AccessURL                   string                 `json:"accessUrl"`
	AccessToken                 string                 `json:"accessToken,omitempty"`
	TokenExpiresAt              string                 `json:"tokenExpiresAt"`
	CreatedAt                   string                 `json:"createdAt"`
	UpdatedAt                   string                 `json:"updatedAt"`
}

type rateLimitOut struct {
	RequestsPerMinute int `json:"requestsPerMinute"`
}

// serverJSON renders the §5.1 object. accessToken is included only when
// given (create, regenerate); the token for accessUrl comes from the second
// argument otherwise.
func (h *Handler) serverJSON(s *patchbay.Server, accessToken string, token ...string) *serverOut {
	tok := accessToken
	if tok == "" && len(token) > 0 {
		tok = token[0]
	}
	var rl *rateLimitOut
	if s.RateLimit > 0 {
		rl = &rateLimitOut{RequestsPerMinute: s.RateLimit}
	}
	base := h.opts.PublicURL + "/mcp/" + s.ID
	return &serverOut{ServerID: s.ID, Name: s.Name, Description: s.Description, CustomInstructions: s.CustomInstructions,
		Mode: s.Mode, IsPublic: s.IsPublic, Restrictions: &s.Restrictions, HasRestrictions: s.Restrictions.HasRestrictions(),
		RateLimit: rl, Cache: s.Cache, AllowUnverifiedUserIDs: s.AllowUnverifiedUserIDs,
		AllowSecretsInToolArguments: s.AllowSecretsInToolArguments, URL: base, AccessURL: base + "/" + tok, AccessToken: accessToken,
		TokenExpiresAt: timestamp(s.TokenExpiresAt), CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt)}
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func timestampPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timestamp(*t)
}
