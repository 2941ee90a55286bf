package patchbay

import (
	"context"
	"time"
)

// APIKey is a management key. Only its SHA-256 hash is stored; the signing
// secret of a key that requires signatures is stored sealed (record ID = key ID).
type APIKey struct {
	ID                  string
	AccountID           string
	UserID              string
	Name                string
	Role                string
	Prefix              string // first 7 characters of the key
	Hash                []byte // SHA-256 of the full key
	RequireSignature    bool
	SigningSecretSealed []byte
	CreatedAt           time.Time
	ExpiresAt           *time.Time
	LastUsedAt          *time.Time
}

// Expired reports whether the key has expired at now.
func (k *APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// APIKeyService stores API keys.
type APIKeyService interface {
	// CreateAPIKey stores k. EConflict if the ID or hash exists.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKeyByHash returns the key with this hash. ENotFound if absent.
	FindAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys returns the account's keys, newest first.
	ListAPIKeys(ctx context.Context, accountID string) ([]*APIKey, error)
	// DeleteAPIKey removes the key and returns it. ENotFound if absent or in
	// another account; EConflict when it is the last admin key that has not
	// expired at now.
	DeleteAPIKey(ctx context.Context, accountID, id string, now time.Time) (*APIKey, error)
	// TouchAPIKey sets lastUsedAt.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
	// UserHasAPIKey reports whether the user holds any key of the account.
	UserHasAPIKey(ctx context.Context, accountID, userID string) (bool, error)
}
