package patchbay

import (
	"context"
	"encoding/json"
	"time"
)

// Connector types (§11.1, §11.6).
const (
	ConnectorREST = "rest"
	ConnectorMCP  = "mcp"
)

// Connector sources: where a definition came from.
const (
	SourceBuiltin = "builtin"
	SourceCustom  = "custom"
)

// Authentication scheme types (§11.1). They double as a credential's
// authenticationType.
const (
	AuthOAuth2 = "oauth2"
	AuthAPIKey = "apiKey"
	AuthBearer = "bearer"
	AuthBasic  = "basic"
)

// Connector is one SaaS API (type rest) or one upstream MCP server (type
// mcp), as in the definition format of §11.1. The JSON tags are the document's
// member names; fields tagged "-" are bookkeeping that is not part of a
// definition document.
type Connector struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Categories  []string     `json:"categories,omitempty"`
	Type        string       `json:"type,omitempty"`    // "" means rest
	BaseURL     string       `json:"baseUrl,omitempty"` // rest
	URL         string       `json:"url,omitempty"`     // mcp: the upstream streamable-HTTP endpoint
	Auth        []AuthScheme `json:"auth,omitempty"`
	Resources   []Resource   `json:"resources,omitempty"`

	// Headers are the static headers of an mcp connector (§11.6). They are
	// secret: stored sealed, never returned, never logged.
	Headers map[string]Secret `json:"-"`

	Source    string    `json:"-"` // SourceBuiltin or SourceCustom
	AccountID string    `json:"-"` // owner of a custom connector; "" for built-ins
	Origin    string    `json:"-"` // custom: "definition", "openapi" or "mcp"
	Version   int64     `json:"-"` // bumped on every change of a custom connector
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// IsMCP reports whether the connector is backed by an upstream MCP server.
func (c *Connector) IsMCP() bool { return c.Type == ConnectorMCP }

// AuthTypes lists the connector's authentication types in definition order
// ([] for a connector without authentication).
func (c *Connector) AuthTypes() []string {
	out := make([]string, 0, len(c.Auth))
	for _, a := range c.Auth {
		out = append(out, a.Type)
	}
	return out
}

// Scheme returns the connector's scheme of the given type, or nil.
func (c *Connector) Scheme(authType string) *AuthScheme {
	for i := range c.Auth {
		if c.Auth[i].Type == authType {
			return &c.Auth[i]
		}
	}
	return nil
}

// FindAction returns the action with exactly this id (case-sensitive) and its
// resource, or nils.
func (c *Connector) FindAction(id string) (*Resource, *Action) {
	for i := range c.Resources {
		r := &c.Resources[i]
		for j := range r.Actions {
			if r.Actions[j].ID == id {
				return r, &r.Actions[j]
			}
		}
	}
	return nil, nil
}

// ActionCount is the number of actions over all resources.
func (c *Connector) ActionCount() int {
	n := 0
	for i := range c.Resources {
		n += len(c.Resources[i].Actions)
	}
	return n
}

// AuthScheme is one entry of a connector's auth list (§11.1). Members that do
// not belong to the scheme's type are empty.
type AuthScheme struct {
	Type string `json:"type"`

	// oauth2
	AuthorizationURL string            `json:"authorizationUrl,omitempty"`
	TokenURL         string            `json:"tokenUrl,omitempty"`
	RevocationURL    string            `json:"revocationUrl,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	ScopeSeparator   string            `json:"scopeSeparator,omitempty"`  // default " "
	PKCE             *bool             `json:"pkce,omitempty"`            // default true
	TokenAuthMethod  string            `json:"tokenAuthMethod,omitempty"` // client_secret_basic (default) or client_secret_post
	AuthorizeParams  map[string]string `json:"authorizeParams,omitempty"`

	// apiKey
	In     string `json:"in,omitempty"` // header or query
	Name   string `json:"name,omitempty"`
	Prefix string `json:"prefix,omitempty"`

	Fields []AuthField `json:"fields,omitempty"`
}

// UsesPKCE reports whether an oauth2 scheme uses PKCE (default true).
func (s *AuthScheme) UsesPKCE() bool { return s.PKCE == nil || *s.PKCE }

// Separator is the scope separator (default one space).
func (s *AuthScheme) Separator() string {
	if s.ScopeSeparator == "" {
		return " "
	}
	return s.ScopeSeparator
}

// AuthField is an extra credential value of a scheme (a region, a subdomain).
type AuthField struct {
	Name     string   `json:"name"`
	Label    string   `json:"label,omitempty"`
	Secret   *bool    `json:"secret,omitempty"` // default true
	Pattern  string   `json:"pattern,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Required *bool    `json:"required,omitempty"` // default true
}

// IsSecret reports whether the field is secret (default true).
func (f *AuthField) IsSecret() bool { return f.Secret == nil || *f.Secret }

// IsRequired reports whether the field is required (default true).
func (f *AuthField) IsRequired() bool { return f.Required == nil || *f.Required }

// Resource groups actions.
type Resource struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Actions     []Action `json:"actions"`
}

// Action is one operation of a connector. Parameters is the JSON Schema
// (2020-12, type object) kept verbatim so that member order survives; the
// x-in, x-name and x-body-root keywords place each top-level property.
type Action struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	Method       string          `json:"method"` // GET, POST, ...; "MCP" is shown for mcp tools
	Path         string          `json:"path,omitempty"`
	Parameters   json.RawMessage `json:"parameters,omitempty"`
	ReadOnly     *bool           `json:"readOnly,omitempty"`
	Destructive  *bool           `json:"destructive,omitempty"`
	Idempotent   *bool           `json:"idempotent,omitempty"`
	BodyEncoding string          `json:"bodyEncoding,omitempty"` // json (default) or form
	Response     *ActionResponse `json:"response,omitempty"`

	// Tool is the upstream tool name of an mcp connector's action (the id is
	// the normalized form of it, §11.6).
	Tool string `json:"tool,omitempty"`
}

// ActionResponse describes where the list is in a response (§10.1).
type ActionResponse struct {
	ItemsPath string `json:"itemsPath,omitempty"`
}

// IsReadOnly applies the §11.1 default: true for GET and HEAD.
func (a *Action) IsReadOnly() bool {
	if a.ReadOnly != nil {
		return *a.ReadOnly
	}
	return a.Method == "GET" || a.Method == "HEAD"
}

// IsDestructive applies the §11.1 default: true for DELETE.
func (a *Action) IsDestructive() bool {
	if a.Destructive != nil {
		return *a.Destructive
	}
	return a.Method == "DELETE"
}

// IsIdempotent applies the §11.1 default: true for GET, HEAD, PUT, DELETE.
func (a *Action) IsIdempotent() bool {
	if a.Idempotent != nil {
		return *a.Idempotent
	}
	switch a.Method {
	case "GET", "HEAD", "PUT", "DELETE":
		return true
	}
	return false
}

// ItemsPath returns response.itemsPath or "".
func (a *Action) ItemsPath() string {
	if a.Response == nil {
		return ""
	}
	return a.Response.ItemsPath
}

// Bool returns a pointer to b, for the optional flags above.
func Bool(b bool) *bool { return &b }

// ConnectorService stores custom connectors (§11.4). Built-in connectors are
// not stored. Every method is scoped to an account.
type ConnectorService interface {
	// CreateConnector stores a custom connector (c.AccountID set; c.Origin
	// says how it was defined). headersSealed is the sealed static headers of
	// an mcp connector, nil otherwise. EConflict if the ID exists in the account.
	CreateConnector(ctx context.Context, c *Connector, headersSealed []byte) error
	// FindConnector returns a custom connector and its sealed headers. ENotFound if absent.
	FindConnector(ctx context.Context, accountID, id string) (*Connector, []byte, error)
	// ListConnectors returns the account's custom connectors ordered by ID.
	ListConnectors(ctx context.Context, accountID string) ([]*Connector, error)
	// UpdateConnector replaces a custom connector; c.Version is incremented.
	// ENotFound if absent.
	UpdateConnector(ctx context.Context, c *Connector, headersSealed []byte) error
	// DeleteConnector removes a custom connector, and with force also the
	// account's credentials and OAuth app for it. Without force, EConflict
	// (details.credentialCount) while credentials exist. ENotFound if absent.
	DeleteConnector(ctx context.Context, accountID, id string, force bool) (deleted []CredentialRef, err error)
	// ConnectorsVersion is a number that changes whenever any custom
	// connector of the account changes (cache key for catalogs).
	ConnectorsVersion(ctx context.Context, accountID string) (int64, error)
	// CustomConnectorAccounts lists the accounts that have a custom connector with this ID.
	CustomConnectorAccounts(ctx context.Context, id string) ([]string, error)
}
