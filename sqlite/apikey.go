package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.APIKeyService = (*DB)(nil)

const apiKeyCols = `id, account_id, user_id, name, role, prefix, hash, require_signature, signing_secret, created_at, expires_at, last_used_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*patchbay.APIKey, error) {
	var (
		k       patchbay.APIKey
		req     int
		created int64
		exp     sql.NullInt64
		used    sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.AccountID, &k.UserID, &k.Name, &k.Role, &k.Prefix, &k.Hash, &req, &k.SigningSecretSealed, &created, &exp, &used); err != nil {
		return nil, err
	}
	k.RequireSignature = req != 0
	k.CreatedAt = fromUnix(created)
	k.ExpiresAt, k.LastUsedAt = fromNullUnix(exp), fromNullUnix(used)
	return &k, nil
}

// CreateAPIKey stores k.
func (s *DB) CreateAPIKey(ctx context.Context, k *patchbay.APIKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AccountID, k.UserID, k.Name, k.Role, k.Prefix, k.Hash, boolInt(k.RequireSignature), k.SigningSecretSealed,
		unix(k.CreatedAt), nullUnix(k.ExpiresAt), nullUnix(k.LastUsedAt))
	if err != nil && isUnique(err) {
		return patchbay.Errorf(patchbay.EConflict, "API key already exists")
	}
	return err
}

// FindAPIKeyByHash returns the key with this hash.
func (s *DB) FindAPIKeyByHash(ctx context.Context, hash []byte) (*patchbay.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "API key not found")
	}
	return k, err
}

// ListAPIKeys returns the account's keys, newest first.
func (s *DB) ListAPIKeys(ctx context.Context, accountID string) ([]*patchbay.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE account_id = ? ORDER BY created_at DESC, id DESC`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*patchbay.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteAPIKey removes a key unless it is the account's last live admin key.
func (s *DB) DeleteAPIKey(ctx context.Context, accountID, id string, now time.Time) (*patchbay.APIKey, error) {
	var out *patchbay.APIKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		k, err := scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ? AND account_id = ?`, id, accountID))
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "key not found")
		}
		if err != nil {
			return err
		}
		if k.Role == patchbay.RoleAdmin && !k.Expired(now) {
			var others int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE account_id = ? AND role = 'admin' AND id <> ?
				AND (expires_at IS NULL OR expires_at > ?)`, accountID, id, now.Unix()).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return patchbay.Errorf(patchbay.EConflict, "cannot delete the last admin key of the account").Reason("last_admin_key")
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id); err != nil {
			return err
		}
		out = k
		return nil
	})
	return out, err
}

// TouchAPIKey sets lastUsedAt.
func (s *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, at.Unix(), id)
	return err
}

// UserHasAPIKey reports whether the user holds a key of the account.
func (s *DB) UserHasAPIKey(ctx context.Context, accountID, userID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE account_id = ? AND user_id = ?`, accountID, userID).Scan(&n)
	return n > 0, err
}
