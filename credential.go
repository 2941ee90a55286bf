package patchbay

import (
	"context"
	"time"
)

// Credential statuses (§12.1).
const (
	CredentialActive      = "active"
	CredentialExpired     = "expired"
	CredentialNeedsReauth = "needs_reauth"
	CredentialRevoked     = "revoked"
)

// Credential is one end user's secret material for one connector. The secret
// part is only ever held sealed (Sealed); metadata is plain.
type Credential struct {
	ID              string
	AccountID       string
	UserID          string
	ConnectorID     string
	ConnectorSource string // SourceBuiltin or SourceCustom; never used across sources
	Name            string
	AuthType        string // AuthOAuth2, AuthAPIKey, AuthBearer, AuthBasic
	Status          string
	Config          map[string]string // non-secret fields
	Scopes          []string          // granted scopes (oauth2)
	BoundServerID   string            // §6.5; "" when unbound
	ExpiresAt       *time.Time        // access-token expiry (oauth2)
	LastUsedAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// Sealed is the vault ciphertext of a CredentialSecret, bound to
	// (AccountID, ID). Revision increases with every write of Sealed, so that
	// a token refresh can compare and swap.
	Sealed   []byte
	Revision int64
}

// CredentialSecret is the plaintext that Credential.Sealed encloses. It lives
// only for the duration of one call.
type CredentialSecret struct {
	Fields       map[string]string `json:"fields,omitempty"` // secret field values: apiKey, token, username, password, extra secret fields
	AccessToken  string            `json:"accessToken,omitempty"`
	RefreshToken string            `json:"refreshToken,omitempty"`
	TokenType    string            `json:"tokenType,omitempty"`
}

// CredentialMaterial is what the connector runtime needs to authenticate one
// upstream request: the scheme type, the non-secret config (base URL
// placeholders) and the secret values.
type CredentialMaterial struct {
	CredentialID string
	AuthType     string
	Config       map[string]string
	Secrets      map[string]Secret // apiKey, token, username, password and secret extra fields
	AccessToken  Secret            // oauth2
}

// SecretValues lists every secret string of m, for redaction of upstream
// responses (§11.3).
func (m *CredentialMaterial) SecretValues() []string {
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(m.Secrets)+1)
	for _, s := range m.Secrets {
		if !s.IsZero() {
			out = append(out, s.Reveal())
		}
	}
	if !m.AccessToken.IsZero() {
		out = append(out, m.AccessToken.Reveal())
	}
	return out
}

// CredentialRef names a credential that a bulk change (a connector deleted
// with force, an OAuth app changed or deleted) deleted or revoked, so that
// the change can be audited per credential (§16). Status is the status
// before the change.
type CredentialRef struct {
	ID          string
	UserID      string
	ConnectorID string
	Status      string
}

// CredentialFilter narrows ListCredentials.
type CredentialFilter struct {
	ConnectorID   string // "" for all
	BoundServerID string // "" for any; otherwise only credentials bound to this server
	Limit, Offset int    // Limit 0 means no limit
}

// CredentialService stores credentials. Every method is scoped to an
// account and user: a credential of another account or user is ENotFound.
type CredentialService interface {
	// CreateCredential stores c (ID, Sealed set by the caller). EConflict if the ID exists.
	CreateCredential(ctx context.Context, c *Credential) error
	// FindCredential returns the credential of (account, user). ENotFound otherwise.
	FindCredential(ctx context.Context, accountID, userID, id string) (*Credential, error)
	// ListCredentials returns the user's credentials ordered by lastUsedAt
	// descending (never used last), then createdAt descending, and the total count.
	ListCredentials(ctx context.Context, accountID, userID string, f CredentialFilter) ([]*Credential, int, error)
	// UpdateCredentialSecret replaces Sealed, Status, Scopes, ExpiresAt and Config
	// if the stored revision equals c.Revision; it then increments c.Revision.
	// EConflict when the revision moved (someone else refreshed).
	UpdateCredentialSecret(ctx context.Context, c *Credential) error
	// SetCredentialStatus changes the status. ENotFound if absent.
	SetCredentialStatus(ctx context.Context, accountID, id, status string) error
	// TouchCredential sets lastUsedAt.
	TouchCredential(ctx context.Context, accountID, id string, at time.Time) error
	// DeleteCredential removes it. ENotFound if absent.
	DeleteCredential(ctx context.Context, accountID, userID, id string) error
}

// CredentialInfo is the §12.1 credential object: metadata only, never a
// secret. Both faces render credentials with it.
type CredentialInfo struct {
	CredentialID       string            `json:"credentialId"`
	ConnectorID        string            `json:"connectorId"`
	Name               string            `json:"name"`
	AuthenticationType string            `json:"authenticationType"`
	Status             string            `json:"status"`
	Scopes             []string          `json:"scopes,omitempty"`
	Config             map[string]string `json:"config"`
	BoundServerID      *string           `json:"boundServerId"`
	ExpiresAt          *string           `json:"expiresAt"`
	LastUsedAt         *string           `json:"lastUsedAt"`
	CreatedAt          string            `json:"createdAt"`
	UpdatedAt          string            `json:"updatedAt"`
}

// Info returns the public view of c.
func (c *Credential) Info() CredentialInfo {
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
	opt := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := stamp(*t)
		return &s
	}
	info := CredentialInfo{CredentialID: c.ID, ConnectorID: c.ConnectorID, Name: c.Name, AuthenticationType: c.AuthType,
		Status: c.Status, Config: c.Config, LastUsedAt: opt(c.LastUsedAt), CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt)}
	if info.Config == nil {
		info.Config = map[string]string{}
	}
	if c.BoundServerID != "" {
		b := c.BoundServerID
		info.BoundServerID = &b
	}
	if c.AuthType == AuthOAuth2 {
		info.Scopes = c.Scopes
		if info.Scopes == nil {
			info.Scopes = []string{}
		}
		info.ExpiresAt = opt(c.ExpiresAt)
	}
	return info
}
