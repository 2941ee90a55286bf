package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// CreateInput is a credential given with its secrets (REST POST
// /api/credentials, or a tool call on a server that allows secrets in
// arguments).
type CreateInput struct {
	AccountID     string
	UserID        string
	ConnectorID   string
	AuthType      string            // apiKey, bearer or basic
	Fields        map[string]string // all fields of the scheme, secret and not
	Name          string            // "" means the connector name
	BoundServerID string            // §6.5: created under an unverified identity
	Actor         patchbay.Actor
}

// CreateCredential validates in against the connector's scheme (§12.2),
// seals the secret fields and stores an active credential whose config holds
// the non-secret fields. Errors: EConnectorNotFound; EInvalid with reason
// connector_has_no_auth, use_oauth_flow (oauth2), unsupported_authentication_type,
// missing_field, unknown_field or invalid_value (with details.field).
func (m *Manager) CreateCredential(ctx context.Context, in CreateInput) (*patchbay.Credential, error) {
	conn, err := m.connectors.Connector(ctx, in.AccountID, in.ConnectorID)
	if err != nil {
		return nil, err
	}
	scheme, err := secretScheme(conn, in.AuthType)
	if err != nil {
		return nil, err
	}
	fields := schemeFields(scheme)
	if err := checkFields(fields, in.Fields, fieldCheck{requireAll: true, allowSecret: true}); err != nil {
		return nil, err
	}
	name := in.Name
	if name == "" {
		name = conn.Name
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	config, secrets := splitFields(fields, in.Fields)
	return m.storeNew(ctx, newCredential{
		accountID: in.AccountID, userID: in.UserID, conn: conn, authType: in.AuthType, name: name,
		config: config, bound: in.BoundServerID, secret: &patchbay.CredentialSecret{Fields: secrets}, actor: in.Actor,
	})
}

// secretScheme returns the connector's scheme for a secret-bearing type.
func secretScheme(conn *patchbay.Connector, authType string) (*patchbay.AuthScheme, error) {
	if len(conn.Auth) == 0 {
		return nil, patchbay.Errorf(patchbay.EInvalid, "Connector %s has no authentication", conn.ID).Reason("connector_has_no_auth")
	}
	if authType == patchbay.AuthOAuth2 {
		return nil, patchbay.Errorf(patchbay.EInvalid, "oauth2 credentials are created through the OAuth flow").
			Field("authenticationType").Reason("use_oauth_flow")
	}
	switch authType {
	case patchbay.AuthAPIKey, patchbay.AuthBearer, patchbay.AuthBasic:
		if s := conn.Scheme(authType); s != nil {
			return s, nil
		}
	}
	return nil, errUnsupportedType(conn, authType)
}

func errUnsupportedType(conn *patchbay.Connector, authType string) *patchbay.Error {
	return patchbay.Errorf(patchbay.EInvalid, "Connector %s does not support authentication type %q", conn.ID, authType).
		Field("authenticationType").Reason("unsupported_authentication_type")
}

// newCredential is what storeNew needs to create a credential.
type newCredential struct {
	accountID, userID string
	conn              *patchbay.Connector
	authType, name    string
	config            map[string]string
	scopes            []string
	bound             string
	expiresAt         *time.Time
	secret            *patchbay.CredentialSecret
	actor             patchbay.Actor
}

// storeNew seals n.secret under a fresh credential ID, stores an active
// credential and audits credential.created.
func (m *Manager) storeNew(ctx context.Context, n newCredential) (*patchbay.Credential, error) {
	now := m.nowUTC()
	c := &patchbay.Credential{
		ID: m.credentialID(), AccountID: n.accountID, UserID: n.userID, ConnectorID: n.conn.ID, ConnectorSource: n.conn.Source,
		Name: n.name, AuthType: n.authType, Status: patchbay.CredentialActive, Config: n.config, Scopes: n.scopes,
		BoundServerID: n.bound, ExpiresAt: n.expiresAt, CreatedAt: now, UpdatedAt: now,
	}
	if c.ConnectorSource == "" {
		c.ConnectorSource = patchbay.SourceBuiltin
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	sealed, err := m.sealSecret(ctx, c, n.secret)
	if err != nil {
		return nil, err
	}
	c.Sealed = sealed
	if err := m.stores.CreateCredential(ctx, c); err != nil {
		return nil, err
	}
	m.audit(ctx, credentialEvent("credential.created", c, n.actor))
	m.log.DebugContext(ctx, "oauth: credential created", "credential_id", c.ID, "connector_id", c.ConnectorID, "auth_type", c.AuthType)
	m.changed(ctx, c)
	return c, nil
}

func (m *Manager) sealSecret(ctx context.Context, c *patchbay.Credential, s *patchbay.CredentialSecret) ([]byte, error) {
	pt, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return m.sealer.Seal(ctx, c.AccountID, c.ID, pt)
}

// errUndecryptable is the public face of a record that does not open
// (§14: INTERNAL_ERROR and an error log; never returned or overwritten).
var errUndecryptable = errors.New("credential record does not decrypt")

// openSecret opens c.Sealed. The JSON is decoded strictly enough that a
// record that authenticates but is not a CredentialSecret is an error too.
func (m *Manager) openSecret(ctx context.Context, c *patchbay.Credential) (*patchbay.CredentialSecret, error) {
	pt, err := m.sealer.Open(ctx, c.AccountID, c.ID, c.Sealed)
	if err != nil {
		m.log.ErrorContext(ctx, "oauth: credential record does not open", "credential_id", c.ID, "account_id", c.AccountID)
		return nil, fmt.Errorf("%w: %s", errUndecryptable, c.ID)
	}
	defer clear(pt)
	var s patchbay.CredentialSecret
	if err := json.Unmarshal(pt, &s); err != nil {
		m.log.ErrorContext(ctx, "oauth: credential record is malformed", "credential_id", c.ID, "account_id", c.AccountID)
		return nil, fmt.Errorf("%w: %s", errUndecryptable, c.ID)
	}
	return &s, nil
}

// DeleteCredential deletes the user's credential: another user's or
// account's is ENotFound. For oauth2 it then asks the provider to revoke the
// token (best effort, 5 s, result ignored, §12.3).
func (m *Manager) DeleteCredential(ctx context.Context, accountID, userID, id string, actor patchbay.Actor) error {
	c, err := m.stores.FindCredential(ctx, accountID, userID, id)
	if err != nil {
		return err
	}
	var token, hint string
	if c.AuthType == patchbay.AuthOAuth2 {
		if s, err := m.openSecret(ctx, c); err == nil {
			token, hint = s.RefreshToken, "refresh_token"
			if token == "" {
				token, hint = s.AccessToken, "access_token"
			}
		}
	}
	if err := m.stores.DeleteCredential(ctx, accountID, userID, id); err != nil {
		return err
	}
	m.audit(ctx, credentialEvent("credential.deleted", c, actor))
	m.changed(ctx, c)
	if token != "" {
		m.revoke(ctx, c, token, hint)
	}
	return nil
}
