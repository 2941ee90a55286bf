package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authmeta"
	"github.com/patchbay-mcp/patchbay/oauth"
)

// Credentials is the credential manager (package oauth), seen from the
// gateway.
type Credentials interface {
	CreateCredential(ctx context.Context, in oauth.CreateInput) (*patchbay.Credential, error)
	StartOAuth(ctx context.Context, r oauth.FlowRequest) (string, time.Time, error)
	StartForm(ctx context.Context, r oauth.FlowRequest) (string, time.Time, error)
	Source(c *patchbay.Credential, redirectURI, serverID string) *oauth.Source
	// NotActive is the CREDENTIAL_NOT_FOUND error for a credential that is
	// not active, with a reconnect link for oauth2 (§12.4).
	NotActive(ctx context.Context, c *patchbay.Credential, redirectURI, serverID string) error
	// Configured reports whether an OAuth app exists for the connector.
	Configured(ctx context.Context, accountID, connectorID string) bool
}

func (c *call) actor() patchbay.Actor {
	return patchbay.Actor{Kind: c.principal.Kind, KeyID: c.principal.KeyID, UserID: c.principal.UserID}
}

var createCredentialTool = &toolDef{
	name:        "create_credential_alloy",
	description: "Creates new platform credentials. For OAuth connectors, and for secret-bearing types unless the server accepts secrets as arguments, returns a URL the user must open.",
	schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48},"authenticationType":{"type":"string","enum":["oauth2","apiKey","bearer","basic"]},"redirectUri":{"type":"string","format":"uri","maxLength":2048,"description":"Where the browser goes after the OAuth consent or the credential form"},"fields":{"type":"object","additionalProperties":{"type":"string","maxLength":8192},"description":"Fields of the authentication scheme, as listed by get_credential_metadata_alloy"},"name":{"type":"string","minLength":1,"maxLength":100}},"required":["connectorId","authenticationType"],"additionalProperties":false}`,
	args: []arg{argConnectorID,
		{name: "authenticationType", kind: kString, required: true, enum: []string{"oauth2", "apiKey", "bearer", "basic"}},
		{name: "redirectUri", kind: kString, max: 2048, check: validURI, what: "an absolute URI"},
		{name: "fields", kind: kStringMap, mapMax: 8192},
		{name: "name", kind: kString, min: 1, max: 100}},
	run: (*Handler).createCredential,
}

var getCredentialsTool = &toolDef{
	name:        "get_credentials_alloy",
	description: "Lists the current user's stored credentials, optionally for one connector.",
	schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48}},"additionalProperties":false}`,
	readOnly:    true, idempotent: true,
	args: []arg{{name: "connectorId", kind: kString, min: 1, max: 48}},
	run:  (*Handler).getCredentials,
}

var credentialMetadataTool = &toolDef{
	name:        "get_credential_metadata_alloy",
	description: "Gets authentication requirements for a connector.",
	schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48}},"required":["connectorId"],"additionalProperties":false}`,
	readOnly:    true, idempotent: true,
	args: []arg{argConnectorID},
	run:  (*Handler).credentialMetadata,
}

func (h *Handler) addCredentialTools(s *builtServer) {
	for _, t := range []*toolDef{createCredentialTool, getCredentialsTool, credentialMetadataTool} {
		h.addTool(s, t)
	}
}

func (h *Handler) createCredential(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	cid, typ := str(a, "connectorId"), str(a, "authenticationType")
	e, err := c.lookupConnector(cid)
	if err != nil {
		h.deniedIf(c, err, cid, "")
		return c.fail(err, "connectorId", cid)
	}
	conn := e.Connector
	if len(conn.Auth) == 0 {
		return c.fail(patchbay.Errorf(patchbay.EInvalid, "%s needs no credential", cid).Reason("connector_has_no_auth"), "connectorId", cid)
	}
	if conn.Scheme(typ) == nil {
		return c.fail(patchbay.Errorf(patchbay.EInvalid, "%s does not support %s", cid, typ).Reason("unsupported_authentication_type"), "connectorId", cid)
	}
	var fields map[string]string
	if v, ok := a["fields"]; ok {
		_ = json.Unmarshal(v, &fields)
	}
	redirect := str(a, "redirectUri")
	if redirect == "" {
		redirect = c.redirectURI()
	}
	name := str(a, "name")
	flow := oauth.FlowRequest{AccountID: c.principal.AccountID, UserID: c.principal.UserID, ServerID: c.server.ID, Bind: c.principal.Unverified,
		ConnectorID: cid, AuthType: typ, Name: name, Fields: fields, RedirectURI: redirect, Actor: c.actor()}
	if h.creds == nil {
		return c.fail(patchbay.Errorf(patchbay.EInternal, "Internal error"), "connectorId", cid)
	}
	switch {
	case typ == patchbay.AuthOAuth2:
		u, exp, err := h.creds.StartOAuth(c.ctx, flow)
		if err != nil {
			return c.fail(err, "connectorId", cid)
		}
		return ok(orderedObject{{"connectorId", cid}, {"authenticationType", typ}, {"oauthUrl", u}, {"expiresAt", stamp(exp)},
			{"message", fmt.Sprintf("Ask the user to open oauthUrl within 10 minutes to connect %s. Then call get_credentials_alloy.", conn.Name)}})
	case !c.server.AllowSecretsInToolArguments:
		u, exp, err := h.creds.StartForm(c.ctx, flow)
		if err != nil {
			return c.fail(err, "connectorId", cid)
		}
		return ok(orderedObject{{"connectorId", cid}, {"authenticationType", typ}, {"credentialFormUrl", u}, {"expiresAt", stamp(exp)},
			{"message", fmt.Sprintf("Ask the user to open credentialFormUrl within 10 minutes to enter the %s credentials. Then call get_credentials_alloy.", conn.Name)}})
	default:
		if _, given := a["redirectUri"]; given {
			return c.fail(patchbay.Errorf(patchbay.EInvalid, "redirectUri is not used when secrets are given as arguments").Field("redirectUri"), "connectorId", cid)
		}
		boundTo := ""
		if c.principal.Unverified {
			boundTo = c.server.ID
		}
		cred, err := h.creds.CreateCredential(c.ctx, oauth.CreateInput{AccountID: c.principal.AccountID, UserID: c.principal.UserID,
			ConnectorID: cid, AuthType: typ, Name: name, Fields: fields, BoundServerID: boundTo, Actor: c.actor()})
		if err != nil {
			return c.fail(err, "connectorId", cid)
		}
		return ok(orderedObject{{"credential", cred.Info()}, {"message", fmt.Sprintf("Credential %s created for %s", cred.ID, cid)}})
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (h *Handler) getCredentials(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	f := patchbay.CredentialFilter{}
	if cid := str(a, "connectorId"); cid != "" {
		if _, err := c.lookupConnector(cid); err != nil {
			h.deniedIf(c, err, cid, "")
			return c.fail(err, "connectorId", cid)
		}
		f.ConnectorID = cid
	}
	if c.principal.Unverified {
		f.BoundServerID = c.server.ID
	}
	all, _, err := h.store.ListCredentials(c.ctx, c.principal.AccountID, c.principal.UserID, f)
	if err != nil {
		return c.fail(patchbay.Errorf(patchbay.EUnavailable, "Service unavailable").Wrap(err))
	}
	out := []patchbay.CredentialInfo{}
	for _, cr := range all {
		e := c.view.Lookup(cr.ConnectorID)
		if e == nil || !c.policy().AllowConnector(cr.ConnectorID) {
			continue
		}
		out = append(out, cr.Info())
	}
	return ok(orderedObject{{"credentials", out}, {"count", len(out)}, {"message", fmt.Sprintf("Found %d credentials", len(out))}})
}

func (h *Handler) credentialMetadata(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	cid := str(a, "connectorId")
	e, err := c.lookupConnector(cid)
	if err != nil {
		h.deniedIf(c, err, cid, "")
		return c.fail(err, "connectorId", cid)
	}
	conn := e.Connector
	redirect := ""
	if acct, err := h.store.FindAccount(c.ctx, c.principal.AccountID); err == nil && len(acct.AllowedRedirectURIs) > 0 {
		redirect = acct.AllowedRedirectURIs[0]
	} else {
		redirect = h.opts.PublicURL + "/oauth/done"
	}
	out := []authmeta.Entry{}
	types := []string{}
	for i := range conn.Auth {
		s := &conn.Auth[i]
		types = append(types, s.Type)
		configured := s.Type != patchbay.AuthOAuth2 || h.creds.Configured(c.ctx, c.principal.AccountID, conn.ID)
		out = append(out, authmeta.Describe(s, c.server.AllowSecretsInToolArguments, redirect, configured))
	}
	return ok(orderedObject{{"connectorId", cid}, {"metadata", out},
		{"message", fmt.Sprintf("%s supports %d authentication types: %s", cid, len(types), joinComma(types))}})
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
