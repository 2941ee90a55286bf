package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay/authn"
)

var _ authn.NonceStore = (*DB)(nil)

// UseNonce records (keyID, nonce) and reports whether it was unused within
// ttl. It is one statement, atomic across instances: a new pair is
// inserted; an expired record is taken over; a live one conflicts and
// changes nothing. Concurrent first uses of one pair queue on the unique
// index, and all but the first then see a live record.
func (s *DB) UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("postgres: nonce ttl must be positive")
	}
	now := s.now()
	tag, err := s.pool.Exec(ctx, `INSERT INTO nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE nonces.expires_at <= $4`,
		keyID, nonce, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, storeErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneNonces deletes expired nonces.
func (s *DB) PruneNonces(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM nonces WHERE expires_at <= $1`, s.now().UnixMilli())
	return storeErr(err)
}
