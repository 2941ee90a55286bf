package patchbay

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Server modes (§5.1, §7.9).
const (
	ModeConnectivity = "connectivity"
	ModeDirect       = "direct"
)

// Limits of server fields (§5.1, §5.3).
const (
	MaxServerName         = 100
	MaxServerDescription  = 2000
	MaxServerInstructions = 10000
	DefaultTokenDays      = 90
	MaxTokenDays          = 365
	MaxRequestsPerMinute  = 100000
)

// Server is one MCP server configuration, owned by one user of an account.
// The access token exists only sealed (TokenSealed, bound to the server ID)
// and as a SHA-256 hash for lookup.
type Server struct {
	ID                          string
	AccountID                   string
	OwnerID                     string
	Name                        string
	Description                 string
	CustomInstructions          string
	Mode                        string
	IsPublic                    bool
	Restrictions                Restrictions
	RateLimit                   int // requests per minute; 0 means the instance default
	Cache                       bool
	AllowUnverifiedUserIDs      bool
	AllowSecretsInToolArguments bool
	TokenHash                   []byte
	TokenSealed                 []byte
	TokenExpiresAt              time.Time
	// Version increases with every change of what the server exposes, so
	// that caches can tell a current copy from a stale one.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks the field rules of §5.1 and §5.3. Name is expected to be
// trimmed already.
func (s *Server) Validate() error {
	if n := utf8.RuneCountInString(s.Name); n < 1 || n > MaxServerName {
		return Errorf(EInvalid, "name must be 1 to %d characters", MaxServerName).Field("name")
	}
	if utf8.RuneCountInString(s.Description) > MaxServerDescription {
		return Errorf(EInvalid, "description must be at most %d characters", MaxServerDescription).Field("description")
	}
	if utf8.RuneCountInString(s.CustomInstructions) > MaxServerInstructions {
		return Errorf(EInvalid, "customInstructions must be at most %d characters", MaxServerInstructions).Field("customInstructions")
	}
	if s.Mode != ModeConnectivity && s.Mode != ModeDirect {
		return Errorf(EInvalid, "mode must be connectivity or direct").Field("mode")
	}
	if s.RateLimit < 0 || s.RateLimit > MaxRequestsPerMinute {
		return Errorf(EInvalid, "rateLimit.requestsPerMinute must be 1 to %d", MaxRequestsPerMinute).Field("rateLimit.requestsPerMinute")
	}
	return s.Restrictions.Validate("restrictions")
}

// TokenExpired reports whether the access token has expired at now.
func (s *Server) TokenExpired(now time.Time) bool { return !now.Before(s.TokenExpiresAt) }

// Slug turns a server name into the first part of its ID (§5.2).
func Slug(name string) string { return SlugN(name, 40) }

// SlugN is the slug of §5.2 cut to max characters: lower case, every run
// of characters outside [a-z0-9] one "-", no "-" at either end; "server"
// when nothing is left. The OpenAPI importer derives connector IDs with it.
func SlugN(name string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) > max {
		s = strings.TrimRight(s[:max], "-")
	}
	if s == "" {
		return "server"
	}
	return s
}

// ServerService stores servers. Methods that take an accountID treat a server
// of another account as ENotFound.
type ServerService interface {
	// CreateServer stores s. EConflict with details.field "name" when the
	// owner already has a server of that name; EConflict with reason
	// "id_taken" when the ID exists (the caller draws a new one).
	CreateServer(ctx context.Context, s *Server) error
	// FindServer returns the server with this ID in any account (the MCP face
	// resolves accounts from servers). ENotFound if absent.
	FindServer(ctx context.Context, id string) (*Server, error)
	// ListServers returns one owner's servers, newest first then by ID, and
	// the total count.
	ListServers(ctx context.Context, accountID, ownerID string, limit, offset int) ([]*Server, int, error)
	// UpdateServer reads the server in a transaction, lets fn change it, and
	// writes it back with Version incremented when fn reports a change.
	// fn's error aborts. EConflict (field "name") for a duplicate name.
	UpdateServer(ctx context.Context, accountID, id string, fn func(s *Server) (changed bool, err error)) (*Server, error)
	// DeleteServer removes the server. ENotFound if absent.
	DeleteServer(ctx context.Context, accountID, id string) error
}
