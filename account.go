package patchbay

import (
	"context"
	"encoding/json"
	"time"
)

// Account is a tenant. Its user-JWT signing secrets are stored sealed, one
// row per version; the previous version stays valid until
// JWTPreviousValidUntil (§4.4, §4.5).
type Account struct {
	ID                    string
	Name                  string
	AllowedRedirectURIs   []string
	JWTPublicKeys         json.RawMessage // JWKS document, nil when none
	JWTCurrent            JWTSecret
	JWTPrevious           *JWTSecret
	JWTPreviousValidUntil time.Time
	Version               int64
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// JWTSecret is one version of an account's HS256 secret, sealed with record
// ID "jwt:hs256-<Version>".
type JWTSecret struct {
	Version   int
	Sealed    []byte
	CreatedAt time.Time
}

// JWTSecretRecordID is the vault record ID of a JWT secret version.
func JWTSecretRecordID(version int) string { return "jwt:" + JWTKid(version) }

// JWTKid is the kid of an HS256 secret version.
func JWTKid(version int) string { return "hs256-" + itoa(version) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// AccountService stores accounts.
type AccountService interface {
	// CreateAccount stores a with its first JWT secret. EConflict if the ID exists.
	CreateAccount(ctx context.Context, a *Account) error
	// FindAccount returns the account with its current and previous JWT secrets. ENotFound if absent.
	FindAccount(ctx context.Context, id string) (*Account, error)
	// ListAccounts returns all accounts ordered by ID.
	ListAccounts(ctx context.Context) ([]*Account, error)
	// UpdateAccount reads the account in a transaction, lets fn change Name,
	// AllowedRedirectURIs or JWTPublicKeys, and writes it back with Version
	// incremented when fn reports a change.
	UpdateAccount(ctx context.Context, id string, fn func(a *Account) (changed bool, err error)) (*Account, error)
	// RotateJWTSecret makes next the current secret; the old current becomes
	// previous until graceUntil; an older previous is dropped.
	RotateJWTSecret(ctx context.Context, id string, next JWTSecret, graceUntil time.Time) (*Account, error)
}
