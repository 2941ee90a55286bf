package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// FlowInput starts an OAuth connection or a credential form.
type FlowInput struct {
	AccountID, UserID, ServerID string
	Bind                        bool
	ConnectorID, CredentialID   string
	AuthType, Name              string
	Fields                      map[string]string
	RedirectURI                 string
	Actor                       patchbay.Actor
}

// CredentialInput creates an apiKey, bearer or basic credential.
type CredentialInput struct {
	AccountID, UserID, ConnectorID string
	AuthType, Name                 string
	Fields                         map[string]string
	BoundServerID                  string
	Actor                          patchbay.Actor
}

// Credentials is the credential manager (package oauth), seen from the
// gateway.
type Credentials interface {
	CreateCredential(ctx context.Context, in CredentialInput) (*patchbay.Credential, error)
	StartOAuth(ctx context.Context, in FlowInput) (string, time.Time, error)
	StartForm(ctx context.Context, in FlowInput) (string, time.Time, error)
	Source(c *patchbay.Credential, redirectURI, serverID string) connector.CredentialSource
	Reauth(ctx context.Context, c *patchbay.Credential, redirectURI, serverID string) (string, time.Time, error)
	// OAuthConfigured reports whether an OAuth app exists for the connector
	// (the account's, or the instance's).
	OAuthConfigured(ctx context.Context, accountID, connectorID string) bool
	// ValidateFields checks extra fields of a scheme (§12.2): secret fields
	// refused when secrets is false, missing required ones refused when
	// requireAll is true.
	ValidateFields(scheme *patchbay.AuthScheme, fields map[string]string, secrets, requireAll bool) error
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

func (h *Handler) addCredentialTools(s *mcp.Server) {
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
	scheme := conn.Scheme(typ)
	if scheme == nil {
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
	flow := FlowInput{AccountID: c.principal.AccountID, UserID: c.principal.UserID, ServerID: c.server.ID, Bind: c.principal.Unverified,
		ConnectorID: cid, AuthType: typ, Name: name, Fields: fields, RedirectURI: redirect, Actor: c.actor()}
	if h.creds == nil {
		return c.fail(patchbay.Errorf(patchbay.EInternal, "Internal error"), "connectorId", cid)
	}
	switch {
	case typ == patchbay.AuthOAuth2:
		if err := h.creds.ValidateFields(scheme, fields, false, true); err != nil {
			return c.fail(err, "connectorId", cid)
		}
		u, exp, err := h.creds.StartOAuth(c.ctx, flow)
		if err != nil {
			return c.fail(err, "connectorId", cid)
		}
		return ok(orderedObject{{"connectorId", cid}, {"authenticationType", typ}, {"oauthUrl", u}, {"expiresAt", stamp(exp)},
			{"message", fmt.Sprintf("Ask the user to open oauthUrl within 10 minutes to connect %s. Then call get_credentials_alloy.", conn.Name)}})
	case !c.server.AllowSecretsInToolArguments:
		if err := h.creds.ValidateFields(scheme, fields, false, false); err != nil {
			return c.fail(err, "connectorId", cid)
		}
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
		cred, err := h.creds.CreateCredential(c.ctx, CredentialInput{AccountID: c.principal.AccountID, UserID: c.principal.UserID,
			ConnectorID: cid, AuthType: typ, Name: name, Fields: fields, BoundServerID: boundTo, Actor: c.actor()})
		if err != nil {
			return c.fail(err, "connectorId", cid)
		}
		return ok(orderedObject{{"credential", CredentialJSON(cred)}, {"message", fmt.Sprintf("Credential %s created for %s", cred.ID, cid)}})
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func stampPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return stamp(*t)
}

// CredentialJSON renders the §12.1 credential object (no secrets).
func CredentialJSON(cr *patchbay.Credential) orderedObject {
	cfg := cr.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	var bound any
	if cr.BoundServerID != "" {
		bound = cr.BoundServerID
	}
	o := orderedObject{{"credentialId", cr.ID}, {"connectorId", cr.ConnectorID}, {"name", cr.Name},
		{"authenticationType", cr.AuthType}, {"status", cr.Status}}
	if cr.AuthType == patchbay.AuthOAuth2 {
		sc := cr.Scopes
		if sc == nil {
			sc = []string{}
		}
		o = append(o, struct {
			k string
			v any
		}{"scopes", sc})
	}
	var exp any
	if cr.AuthType == patchbay.AuthOAuth2 {
		exp = stampPtr(cr.ExpiresAt)
	}
	return append(o, orderedObject{{"config", cfg}, {"boundServerId", bound}, {"expiresAt", exp},
		{"lastUsedAt", stampPtr(cr.LastUsedAt)}, {"createdAt", stamp(cr.CreatedAt)}, {"updatedAt", stamp(cr.UpdatedAt)}}...)
}

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
	out := []orderedObject{}
	for _, cr := range all {
		e := c.view.Lookup(cr.ConnectorID)
		if e == nil || !c.policy().AllowConnector(cr.ConnectorID) {
			continue
		}
		out = append(out, CredentialJSON(cr))
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
	out := []orderedObject{}
	types := []string{}
	for i := range conn.Auth {
		s := &conn.Auth[i]
		types = append(types, s.Type)
		out = append(out, h.schemeMetadata(c, conn, s, redirect))
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

// secretFieldsOf lists the fields a scheme's credential holds (§12.2).
func builtinFields(typ string) []patchbay.AuthField {
	switch typ {
	case patchbay.AuthAPIKey:
		return []patchbay.AuthField{{Name: "apiKey"}}
	case patchbay.AuthBearer:
		return []patchbay.AuthField{{Name: "token"}}
	case patchbay.AuthBasic:
		return []patchbay.AuthField{{Name: "username"}, {Name: "password"}}
	}
	return nil
}

func (h *Handler) schemeMetadata(c *call, conn *patchbay.Connector, s *patchbay.AuthScheme, redirect string) orderedObject {
	secretsAllowed := c.server.AllowSecretsInToolArguments && s.Type != patchbay.AuthOAuth2
	props := &node{isObj: true}
	var required []string
	sample := orderedObject{}
	all := s.Fields
	if secretsAllowed {
		all = append(builtinFields(s.Type), s.Fields...)
	}
	for _, f := range all {
		if f.IsSecret() && !secretsAllowed {
			continue
		}
		p := &node{isObj: true}
		p.set("type", scalarNode("string"))
		if len(f.Enum) > 0 {
			p.set("enum", scalarNode(f.Enum))
		}
		if f.Pattern != "" {
			p.set("pattern", scalarNode(f.Pattern))
		}
		if f.Label != "" {
			p.set("description", scalarNode(f.Label))
		}
		if f.IsSecret() {
			p.set("writeOnly", scalarNode(true))
		}
		props.set(f.Name, p)
		if f.IsRequired() {
			required = append(required, f.Name)
		}
		switch {
		case f.IsSecret():
			sample = append(sample, struct {
				k string
				v any
			}{f.Name, "<secret>"})
		case len(f.Enum) > 0:
			sample = append(sample, struct {
				k string
				v any
			}{f.Name, f.Enum[0]})
		}
	}
	schema := &node{isObj: true}
	inProps := &node{isObj: true}
	inProps.set("authenticationType", &node{isObj: true, obj: []member{{"type", scalarNode("string")}, {"const", scalarNode(s.Type)}}})
	showRedirect := !secretsAllowed
	if showRedirect {
		inProps.set("redirectUri", &node{isObj: true, obj: []member{{"type", scalarNode("string")}, {"format", scalarNode("uri")}}})
	}
	fieldsRequired := false
	if len(props.obj) > 0 {
		fs := &node{isObj: true}
		fs.set("type", scalarNode("object"))
		fs.set("properties", props)
		if len(required) > 0 && (s.Type == patchbay.AuthOAuth2 || secretsAllowed) {
			fs.set("required", scalarNode(required))
			fieldsRequired = true
		}
		fs.set("additionalProperties", scalarNode(false))
		inProps.set("fields", fs)
	}
	inProps.set("name", &node{isObj: true, obj: []member{{"type", scalarNode("string")}}})
	schema.set("type", scalarNode("object"))
	schema.set("properties", inProps)
	req := []string{"authenticationType"}
	if fieldsRequired || secretsAllowed && len(props.obj) > 0 {
		req = append(req, "fields")
	}
	schema.set("required", scalarNode(req))

	sampleInput := orderedObject{{"authenticationType", s.Type}}
	if s.Type == patchbay.AuthOAuth2 {
		sampleInput = append(sampleInput, struct {
			k string
			v any
		}{"redirectUri", redirect})
	}
	if len(sample) > 0 {
		sampleInput = append(sampleInput, struct {
			k string
			v any
		}{"fields", sample})
	}
	configured := true
	if s.Type == patchbay.AuthOAuth2 && h.creds != nil {
		configured = h.creds.OAuthConfigured(c.ctx, c.principal.AccountID, conn.ID)
	}
	return orderedObject{{"authenticationType", s.Type}, {"authConfigRequired", false}, {"configured", configured},
		{"inputSchema", schema}, {"sampleInput", sampleInput}}
}
