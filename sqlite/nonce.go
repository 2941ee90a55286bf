package sqlite

import (
	"context"
	"time"
)

// UseNonce records (keyID, nonce) and reports whether it was unused within
// ttl. The primary key makes the check and the insert one atomic step.
func (s *DB) UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	now := s.now()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM nonces WHERE key_id = ? AND nonce = ? AND expires_at <= ?`, keyID, nonce, now.UnixMilli()); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		keyID, nonce, now.Add(ttl).UnixMilli())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PruneNonces deletes expired nonces.
func (s *DB) PruneNonces(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at <= ?`, s.now().UnixMilli())
	return err
}
