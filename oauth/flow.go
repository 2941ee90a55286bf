package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// FlowRequest starts an OAuth connect flow (§13.2) or a credential form
// (§13.6).
type FlowRequest struct {
	AccountID string
	UserID    string
	// ServerID is the server the flow was started through ("" over REST);
	// its name is shown on the start page.
	ServerID string
	// Bind binds the new credential to ServerID (unverified identity, §6.5).
	Bind        bool
	ConnectorID string
	// CredentialID names an oauth2 credential to reconnect instead of
	// creating a new one (§12.4, §13.5).
	CredentialID string
	// AuthType is oauth2 for StartOAuth ("" is taken as oauth2) and apiKey,
	// bearer or basic for StartForm.
	AuthType string
	Name     string // "" means the connector name
	// Fields are the scheme's extra fields: they become the credential's
	// config (oauth2) or pre-fill the form. Secret fields are refused
	// (secret_field_not_allowed) unless AllowSecretFields is set.
	Fields map[string]string
	// AllowSecretFields lets an oauth2 flow carry secret extra fields, as
	// REST may (§12.2); they are sealed with the flow. Never over MCP.
	AllowSecretFields bool
	// RedirectURI is where the browser goes at the end; "" means the
	// built-in {publicUrl}/oauth/done. It must pass §13.3.
	RedirectURI string
	Actor       patchbay.Actor
}

// flowSecret is the sealed part of an OAuth flow (record ID = flow ID).
type flowSecret struct {
	Verifier string            `json:"verifier"`
	Fields   map[string]string `json:"fields,omitempty"` // secret extra fields (REST only)
}

func errRedirectNotAllowed() *patchbay.Error {
	return patchbay.Errorf(patchbay.EInvalid, "redirectUri is not allowed").Field("redirectUri").Reason("redirect_uri_not_allowed")
}

// redirectFor resolves the flow's redirect URI: "" means the built-in done
// page; anything else must pass §13.3 for the account.
func (m *Manager) redirectFor(ctx context.Context, accountID, uri string) (string, error) {
	if uri == "" {
		return m.donePage(), nil
	}
	ok, err := m.redirectAllowed(ctx, accountID, uri)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errRedirectNotAllowed()
	}
	return uri, nil
}

func (m *Manager) redirectAllowed(ctx context.Context, accountID, uri string) (bool, error) {
	if len(uri) > 2048 {
		return false, nil
	}
	acct, err := m.stores.FindAccount(ctx, accountID)
	if err != nil {
		return false, err
	}
	return patchbay.RedirectAllowed(uri, m.publicURL, acct.AllowedRedirectURIs), nil
}

// StartOAuth creates an OAuth flow and returns its start link
// {publicUrl}/oauth/start/{flowId} and expiry. Errors: EConnectorNotFound;
// EInvalid with reason connector_has_no_auth, unsupported_authentication_type,
// missing_field, unknown_field, secret_field_not_allowed, invalid_value,
// redirect_uri_not_allowed or oauth_app_not_configured; ECredentialNotFound
// (reason missing) for a CredentialID that is not the user's oauth2
// credential of this connector.
func (m *Manager) StartOAuth(ctx context.Context, r FlowRequest) (oauthURL string, expiresAt time.Time, err error) {
	conn, err := m.connectors.Connector(ctx, r.AccountID, r.ConnectorID)
	if err != nil {
		return "", time.Time{}, err
	}
	if len(conn.Auth) == 0 {
		return "", time.Time{}, patchbay.Errorf(patchbay.EInvalid, "Connector %s has no authentication", conn.ID).Reason("connector_has_no_auth")
	}
	scheme := conn.Scheme(patchbay.AuthOAuth2)
	if (r.AuthType != "" && r.AuthType != patchbay.AuthOAuth2) || scheme == nil {
		return "", time.Time{}, errUnsupportedType(conn, patchbay.AuthOAuth2)
	}
	redirect, err := m.redirectFor(ctx, r.AccountID, r.RedirectURI)
	if err != nil {
		return "", time.Time{}, err
	}
	name := r.Name
	if r.CredentialID != "" {
		c, err := m.stores.FindCredential(ctx, r.AccountID, r.UserID, r.CredentialID)
		if err != nil && !patchbay.IsCode(err, patchbay.ENotFound) {
			return "", time.Time{}, err
		}
		if err != nil || c.AuthType != patchbay.AuthOAuth2 || c.ConnectorID != conn.ID {
			return "", time.Time{}, patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").
				Reason("missing").With("credentialId", r.CredentialID)
		}
		if name == "" {
			name = c.Name
		}
	}
	fields := schemeFields(scheme)
	// A reconnect keeps the credential's config, so nothing is required.
	check := fieldCheck{requireAll: r.CredentialID == "", allowSecret: r.AllowSecretFields}
	if err := checkFields(fields, r.Fields, check); err != nil {
		return "", time.Time{}, err
	}
	if name == "" {
		name = conn.Name
	}
	if err := checkName(name); err != nil {
		return "", time.Time{}, err
	}
	if _, err := m.resolveApp(ctx, r.AccountID, conn.ID, scheme, false); err != nil {
		return "", time.Time{}, err
	}
	config, secrets := splitFields(fields, r.Fields)
	f := m.newFlow(r, conn, patchbay.FlowOAuth, name, config, redirect)
	pt, err := json.Marshal(flowSecret{Verifier: newVerifier(m.random), Fields: secrets})
	if err != nil {
		return "", time.Time{}, err
	}
	f.VerifierSealed, err = m.sealer.Seal(ctx, f.AccountID, f.ID, pt)
	clear(pt)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := m.createFlow(ctx, f, r.Actor); err != nil {
		return "", time.Time{}, err
	}
	return m.publicURL + "/oauth/start/" + f.ID, f.ExpiresAt, nil
}

// StartForm creates a credential form for apiKey, bearer or basic (§13.6)
// and returns its link {publicUrl}/oauth/form/{flowId} and expiry. Fields
// may pre-fill the scheme's non-secret fields; a secret field is refused
// (secret_field_not_allowed); missing fields are not an error. Errors as
// StartOAuth, with use_oauth_flow for oauth2.
func (m *Manager) StartForm(ctx context.Context, r FlowRequest) (formURL string, expiresAt time.Time, err error) {
	conn, err := m.connectors.Connector(ctx, r.AccountID, r.ConnectorID)
	if err != nil {
		return "", time.Time{}, err
	}
	scheme, err := secretScheme(conn, r.AuthType)
	if err != nil {
		return "", time.Time{}, err
	}
	fields := schemeFields(scheme)
	if err := checkFields(fields, r.Fields, fieldCheck{}); err != nil {
		return "", time.Time{}, err
	}
	redirect, err := m.redirectFor(ctx, r.AccountID, r.RedirectURI)
	if err != nil {
		return "", time.Time{}, err
	}
	name := r.Name
	if name == "" {
		name = conn.Name
	}
	if err := checkName(name); err != nil {
		return "", time.Time{}, err
	}
	f := m.newFlow(r, conn, patchbay.FlowForm, name, maps.Clone(r.Fields), redirect)
	f.AuthType = r.AuthType
	if err := m.createFlow(ctx, f, r.Actor); err != nil {
		return "", time.Time{}, err
	}
	return m.publicURL + "/oauth/form/" + f.ID, f.ExpiresAt, nil
}

func (m *Manager) newFlow(r FlowRequest, conn *patchbay.Connector, kind, name string, config map[string]string, redirect string) *patchbay.Flow {
	now := m.nowUTC()
	if config == nil {
		config = map[string]string{}
	}
	src := conn.Source
	if src == "" {
		src = patchbay.SourceBuiltin
	}
	return &patchbay.Flow{
		ID: m.flowID(), Kind: kind, AccountID: r.AccountID, UserID: r.UserID, ServerID: r.ServerID, Bind: r.Bind && r.ServerID != "",
		ConnectorID: conn.ID, ConnectorSource: src, CredentialID: r.CredentialID, AuthType: patchbay.AuthOAuth2, Name: name,
		Fields: config, RedirectURI: redirect, CreatedAt: now, ExpiresAt: now.Add(m.opts.FlowTTL),
	}
}

func (m *Manager) createFlow(ctx context.Context, f *patchbay.Flow, actor patchbay.Actor) error {
	if err := m.stores.CreateFlow(ctx, f); err != nil {
		return err
	}
	e := flowEvent("oauth.flow_started", f, actor)
	e.Details = map[string]any{"kind": f.Kind}
	m.audit(ctx, e)
	m.log.DebugContext(ctx, "oauth: flow started", "kind", f.Kind, "connector_id", f.ConnectorID, "account_id", f.AccountID)
	return nil
}

func flowEvent(typ string, f *patchbay.Flow, actor patchbay.Actor) *patchbay.AuditEvent {
	return &patchbay.AuditEvent{Type: typ, AccountID: f.AccountID, Actor: actor, UserID: f.UserID, ServerID: f.ServerID,
		ConnectorID: f.ConnectorID, CredentialID: f.CredentialID}
}

// verifierAlphabet is RFC 7636's unreserved set; 66 characters.
const verifierAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// newVerifier returns a PKCE verifier of 64 characters of [A-Za-z0-9-._~]
// (§13.2), uniformly drawn by rejection sampling.
func newVerifier(r io.Reader) string {
	out := make([]byte, 0, 64)
	buf := make([]byte, 96)
	for len(out) < 64 {
		if _, err := io.ReadFull(r, buf); err != nil {
			panic("oauth: random source failed: " + err.Error())
		}
		for _, b := range buf {
			if b >= 198 { // 198 = 66*3: larger values would bias the modulo
				continue
			}
			out = append(out, verifierAlphabet[b%66])
			if len(out) == 64 {
				break
			}
		}
	}
	return string(out)
}

// Reauth starts a flow that reconnects the oauth2 credential c (§12.4,
// §13.5). The redirect URI is used if it passes §13.3, else the browser ends
// at the built-in done page.
func (m *Manager) Reauth(ctx context.Context, c *patchbay.Credential, redirectURI, serverID string) (string, time.Time, error) {
	if c.AuthType != patchbay.AuthOAuth2 {
		return "", time.Time{}, fmt.Errorf("oauth: reauth of a %s credential", c.AuthType)
	}
	if redirectURI != "" {
		ok, err := m.redirectAllowed(ctx, c.AccountID, redirectURI)
		if err != nil {
			return "", time.Time{}, err
		}
		if !ok {
			redirectURI = ""
		}
	}
	return m.StartOAuth(ctx, FlowRequest{AccountID: c.AccountID, UserID: c.UserID, ServerID: serverID, ConnectorID: c.ConnectorID,
		CredentialID: c.ID, AuthType: patchbay.AuthOAuth2, Name: c.Name, RedirectURI: redirectURI, Actor: actorFrom(ctx, c.UserID)})
}

// NotActive is the tool-facing error for a credential that cannot be used
// (§7.4, §12.4): CREDENTIAL_NOT_FOUND "Credential not found" with details
// reason (the status), credentialId and, for oauth2, oauthUrl and
// oauthUrlExpiresAt of a fresh reconnect flow. When no flow can be started
// (no OAuth app) the URL is left out.
func (m *Manager) NotActive(ctx context.Context, c *patchbay.Credential, redirectURI, serverID string) error {
	return m.notActive(ctx, c, c.Status, redirectURI, serverID)
}

func (m *Manager) notActive(ctx context.Context, c *patchbay.Credential, reason, redirectURI, serverID string) error {
	e := patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason(reason).With("credentialId", c.ID)
	if c.AuthType == patchbay.AuthOAuth2 {
		u, exp, err := m.Reauth(ctx, c, redirectURI, serverID)
		if err != nil {
			m.log.WarnContext(ctx, "oauth: no reconnect link", "credential_id", c.ID, "error_code", patchbay.ErrorCode(err))
		} else {
			e.With("oauthUrl", u).With("oauthUrlExpiresAt", exp.UTC().Format(time.RFC3339))
		}
	}
	return e
}
