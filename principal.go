package patchbay

import "context"

// Roles of API keys and principals (§4.1).
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// How a principal authenticated (audit actor.kind values).
const (
	ActorAPIKey      = "api_key"
	ActorUserJWT     = "user_jwt"
	ActorServerToken = "server_token"
	ActorSystem      = "system"
	ActorCLI         = "cli"
)

// Principal is who is calling, after authentication and effective-user
// resolution.
type Principal struct {
	AccountID string
	UserID    string // acting (management) or effective (MCP) user
	Role      string // RoleAdmin or RoleUser
	Kind      string // ActorAPIKey, ActorUserJWT or ActorServerToken
	KeyID     string // API key, when Kind is ActorAPIKey or a JWT rode on a key
	KeyUserID string // the key's own user
	ServerID  string // MCP face: the server being called
	// Unverified marks an unverified identity on a public server (§6.5).
	Unverified bool
}

// IsAdmin reports whether the principal has the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
