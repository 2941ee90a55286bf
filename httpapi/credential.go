package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authmeta"
	"github.com/patchbay-mcp/patchbay/oauth"
	sj "github.com/patchbay-mcp/patchbay/strictjson"
)

// Credentials is the credential manager (package oauth), seen from the
// management face.
type Credentials interface {
	CreateCredential(ctx context.Context, in oauth.CreateInput) (*patchbay.Credential, error)
	StartOAuth(ctx context.Context, r oauth.FlowRequest) (string, time.Time, error)
	DeleteCredential(ctx context.Context, accountID, userID, id string, actor patchbay.Actor) error
	Configured(ctx context.Context, accountID, connectorID string) bool
	// AppChanged tells the manager that an OAuth app changed (cache).
	AppChanged(ctx context.Context, accountID, connectorID string)
}

func (h *Handler) listCredentials(c *call) error {
	q := c.r.URL.Query()
	limit, err := intParam(q.Get("limit"), q.Has("limit"), "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	offset, err := intParam(q.Get("offset"), q.Has("offset"), "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	creds, total, err := h.store.ListCredentials(c.r.Context(), c.p.AccountID, c.p.UserID,
		patchbay.CredentialFilter{ConnectorID: q.Get("connectorId"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	out := make([]patchbay.CredentialInfo, len(creds))
	for i, cr := range creds {
		out[i] = cr.Info()
	}
	return c.json(http.StatusOK, map[string]any{"credentials": out, "count": total, "limit": limit, "offset": offset,
		"hasMore": offset+len(out) < total})
}

func (h *Handler) getCredential(c *call) error {
	cr, err := h.store.FindCredential(c.r.Context(), c.p.AccountID, c.p.UserID, c.r.PathValue("credentialId"))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cr.Info())
}

type createCredentialRequest struct {
	ConnectorID        sj.Optional[string]            `json:"connectorId"`
	AuthenticationType sj.Optional[string]            `json:"authenticationType"`
	Fields             sj.Optional[map[string]string] `json:"fields"`
	Name               sj.Optional[string]            `json:"name"`
	RedirectURI        sj.Optional[string]            `json:"redirectUri"`
}

func (h *Handler) createCredential(c *call) error {
	var req createCredentialRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.RedirectURI.Set {
		return patchbay.Errorf(patchbay.EInvalid, `unknown field "redirectUri"`).Field("redirectUri")
	}
	if !req.ConnectorID.Set || req.ConnectorID.Null || req.ConnectorID.Value == "" {
		return patchbay.Errorf(patchbay.EInvalid, "connectorId is required").Field("connectorId")
	}
	return h.storeCredential(c, req.ConnectorID.Value, &req)
}

func (h *Handler) storeCredential(c *call, connectorID string, req *createCredentialRequest) error {
	typ := req.AuthenticationType.Value
	if !req.AuthenticationType.Set || typ == "" {
		return patchbay.Errorf(patchbay.EInvalid, "authenticationType is required").Field("authenticationType")
	}
	if typ == patchbay.AuthOAuth2 {
		return patchbay.Errorf(patchbay.EInvalid, "oauth2 credentials are created by the OAuth flow: POST /api/connectors/%s/credentials", connectorID).
			Field("authenticationType").Reason("use_oauth_flow")
	}
	cr, err := h.creds.CreateCredential(c.r.Context(), oauth.CreateInput{AccountID: c.p.AccountID, UserID: c.p.UserID,
		ConnectorID: connectorID, AuthType: typ, Fields: req.Fields.Value, Name: req.Name.Value, Actor: actor(c.p)})
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/api/credentials/"+cr.ID)
	return c.json(http.StatusCreated, cr.Info())
}

// connectCredential serves POST /api/connectors/{id}/credentials: an OAuth
// start link for oauth2, else the same as POST /api/credentials.
func (h *Handler) connectCredential(c *call) error {
	var req createCredentialRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.ConnectorID.Set {
		return patchbay.Errorf(patchbay.EInvalid, `unknown field "connectorId"`).Field("connectorId")
	}
	connectorID := c.r.PathValue("connectorId")
	if _, err := h.catalog.Registry.Connector(c.r.Context(), c.p.AccountID, connectorID); err != nil {
		return err
	}
	if req.AuthenticationType.Value != patchbay.AuthOAuth2 {
		if req.RedirectURI.Set {
			return patchbay.Errorf(patchbay.EInvalid, "redirectUri applies only to oauth2").Field("redirectUri")
		}
		return h.storeCredential(c, connectorID, &req)
	}
	redirect := req.RedirectURI.Value
	if redirect == "" {
		redirect = strings.TrimSpace(c.r.Header.Get("x-redirect-uri"))
	}
	u, exp, err := h.creds.StartOAuth(c.r.Context(), oauth.FlowRequest{AccountID: c.p.AccountID, UserID: c.p.UserID,
		ConnectorID: connectorID, AuthType: patchbay.AuthOAuth2, Name: req.Name.Value, Fields: req.Fields.Value,
		AllowSecretFields: true, RedirectURI: redirect, Actor: actor(c.p)})
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, map[string]any{"oauthUrl": u, "expiresAt": timestamp(exp)})
}

func (h *Handler) credentialMetadata(c *call) error {
	ctx := c.r.Context()
	conn, err := h.catalog.Registry.Connector(ctx, c.p.AccountID, c.r.PathValue("connectorId"))
	if err != nil {
		return err
	}
	redirect := h.opts.PublicURL + "/oauth/done"
	if acct, err := h.store.FindAccount(ctx, c.p.AccountID); err == nil && len(acct.AllowedRedirectURIs) > 0 {
		redirect = acct.AllowedRedirectURIs[0]
	}
	out := []authmeta.Entry{}
	for i := range conn.Auth {
		s := &conn.Auth[i]
		configured := s.Type != patchbay.AuthOAuth2 || h.creds.Configured(ctx, c.p.AccountID, conn.ID)
		out = append(out, authmeta.Describe(s, false, redirect, configured))
	}
	return c.json(http.StatusOK, map[string]any{"metadata": out})
}

func (h *Handler) deleteCredential(c *call) error {
	id := c.r.PathValue("credentialId")
	if err := h.creds.DeleteCredential(c.r.Context(), c.p.AccountID, c.p.UserID, id, actor(c.p)); err != nil {
		return err
	}
	return c.json(http.StatusOK, map[string]any{"message": "Credential deleted", "credentialId": id})
}

type oauthAppRequest struct {
	ClientID     sj.Optional[string]   `json:"clientId"`
	ClientSecret sj.Optional[string]   `json:"clientSecret"`
	Scopes       sj.Optional[[]string] `json:"scopes"`
}

func (h *Handler) oauthAppJSON(app *patchbay.OAuthApp, conn *patchbay.Connector) map[string]any {
	scopes := app.Scopes
	if len(scopes) == 0 {
		if s := conn.Scheme(patchbay.AuthOAuth2); s != nil {
			scopes = s.Scopes
		}
	}
	if scopes == nil {
		scopes = []string{}
	}
	return map[string]any{"connectorId": app.ConnectorID, "clientId": app.ClientID, "scopes": scopes, "hasClientSecret": len(app.SecretSealed) > 0,
		"callbackUrl": h.opts.PublicURL + "/oauth/callback", "createdAt": timestamp(app.CreatedAt), "updatedAt": timestamp(app.UpdatedAt)}
}

func (h *Handler) oauthConnector(c *call) (*patchbay.Connector, error) {
	conn, err := h.catalog.Registry.Connector(c.r.Context(), c.p.AccountID, c.r.PathValue("connectorId"))
	if err != nil {
		return nil, err
	}
	if conn.Scheme(patchbay.AuthOAuth2) == nil {
		return nil, patchbay.Errorf(patchbay.EInvalid, "%s has no oauth2 scheme", conn.ID).Reason("no_oauth2_scheme")
	}
	return conn, nil
}

func (h *Handler) getOAuthApp(c *call) error {
	conn, err := h.catalog.Registry.Connector(c.r.Context(), c.p.AccountID, c.r.PathValue("connectorId"))
	if err != nil {
		return err
	}
	app, err := h.store.FindOAuthApp(c.r.Context(), c.p.AccountID, conn.ID)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, h.oauthAppJSON(app, conn))
}

func (h *Handler) putOAuthApp(c *call) error {
	var req oauthAppRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	conn, err := h.oauthConnector(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	id := strings.TrimSpace(req.ClientID.Value)
	if !req.ClientID.Set || req.ClientID.Null || len(id) < 1 || len(id) > 512 {
		return patchbay.Errorf(patchbay.EInvalid, "clientId must be 1 to 512 characters").Field("clientId")
	}
	old, err := h.store.FindOAuthApp(ctx, c.p.AccountID, conn.ID)
	if err != nil && !patchbay.IsCode(err, patchbay.ENotFound) {
		return err
	}
	now := h.now()
	app := &patchbay.OAuthApp{AccountID: c.p.AccountID, ConnectorID: conn.ID, ClientID: id, CreatedAt: now, UpdatedAt: now}
	switch {
	case req.ClientSecret.Set && !req.ClientSecret.Null:
		if n := len(req.ClientSecret.Value); n < 1 || n > 4096 {
			return patchbay.Errorf(patchbay.EInvalid, "clientSecret must be 1 to 4096 characters").Field("clientSecret")
		}
		if app.SecretSealed, err = h.vault.Seal(ctx, c.p.AccountID, patchbay.OAuthAppRecordID(conn.ID), []byte(req.ClientSecret.Value)); err != nil {
			return err
		}
	case old == nil || old.ClientID != id:
		return patchbay.Errorf(patchbay.EInvalid, "clientSecret is required for a new app or a new clientId").Field("clientSecret")
	default:
		app.SecretSealed = old.SecretSealed
	}
	if req.Scopes.Set && !req.Scopes.Null {
		app.Scopes = req.Scopes.Value
	} else if old != nil && !req.Scopes.Set {
		app.Scopes = old.Scopes
	}
	revoked, err := h.store.PutOAuthApp(ctx, app)
	if err != nil {
		return err
	}
	h.creds.AppChanged(ctx, c.p.AccountID, conn.ID)
	h.credentialEvents(c, "credential.status_changed", revoked, patchbay.CredentialRevoked)
	h.audit(c, "oauth_app.updated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = conn.ID
		e.Details = map[string]any{"clientIdChanged": old != nil && old.ClientID != id, "revokedCredentials": len(revoked)}
	})
	return c.json(http.StatusOK, h.oauthAppJSON(app, conn))
}

func (h *Handler) deleteOAuthApp(c *call) error {
	conn, err := h.catalog.Registry.Connector(c.r.Context(), c.p.AccountID, c.r.PathValue("connectorId"))
	if err != nil {
		return err
	}
	revoked, err := h.store.DeleteOAuthApp(c.r.Context(), c.p.AccountID, conn.ID)
	if err != nil {
		return err
	}
	h.creds.AppChanged(c.r.Context(), c.p.AccountID, conn.ID)
	h.credentialEvents(c, "credential.status_changed", revoked, patchbay.CredentialRevoked)
	h.audit(c, "oauth_app.deleted", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = conn.ID
		e.Details = map[string]any{"revokedCredentials": len(revoked)}
	})
	return c.json(http.StatusOK, map[string]any{"message": "OAuth app deleted", "connectorId": conn.ID})
}

// credentialEvents audits each credential a bulk change touched (§16:
// credential.* events on any path). to is the new status of a status
// change, "" for deletions.
func (h *Handler) credentialEvents(c *call, typ string, refs []patchbay.CredentialRef, to string) {
	for _, r := range refs {
		h.audit(c, typ, patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
			e.UserID, e.ConnectorID, e.CredentialID = r.UserID, r.ConnectorID, r.ID
			if to != "" {
				e.Details = map[string]any{"from": r.Status, "to": to}
			}
		})
	}
}
