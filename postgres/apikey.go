package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.APIKeyService = (*DB)(nil)

const apiKeyCols = `id, account_id, user_id, name, role, prefix, hash, require_signature, signing_secret, created_at, expires_at, last_used_at`

func scanAPIKey(row rowScanner) (*patchbay.APIKey, error) {
	var (
		k       patchbay.APIKey
		created int64
		exp     *int64
		used    *int64
	)
	if err := row.Scan(&k.ID, &k.AccountID, &k.UserID, &k.Name, &k.Role, &k.Prefix, &k.Hash, &k.RequireSignature, &k.SigningSecretSealed,
		&created, &exp, &used); err != nil {
		return nil, err
	}
	k.CreatedAt = fromUnix(created)
	k.ExpiresAt, k.LastUsedAt = fromNullUnix(exp), fromNullUnix(used)
	return &k, nil
}

// CreateAPIKey stores k.
func (s *DB) CreateAPIKey(ctx context.Context, k *patchbay.APIKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		k.ID, k.AccountID, k.UserID, k.Name, k.Role, k.Prefix, notNullBytes(k.Hash), k.RequireSignature, k.SigningSecretSealed,
		unix(k.CreatedAt), nullUnix(k.ExpiresAt), nullUnix(k.LastUsedAt))
	if isUnique(err) {
		return patchbay.Errorf(patchbay.EConflict, "API key already exists")
	}
	return storeErr(err)
}

// FindAPIKeyByHash returns the key with this hash.
func (s *DB) FindAPIKeyByHash(ctx context.Context, hash []byte) (*patchbay.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "API key not found")
	}
	return k, storeErr(err)
}

// ListAPIKeys returns the account's keys, newest first.
func (s *DB) ListAPIKeys(ctx context.Context, accountID string) ([]*patchbay.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE account_id = $1 ORDER BY created_at DESC, id DESC`, accountID)
	out, err := collect(rows, err, scanAPIKey)
	return out, storeErr(err)
}

// DeleteAPIKey removes a key unless it is the account's last live admin key.
// Deleting an admin key locks all the account's admin keys (in ID order, so
// that concurrent deletions queue instead of deadlocking): two instances
// deleting the last two admin keys at once cannot both succeed.
func (s *DB) DeleteAPIKey(ctx context.Context, accountID, id string, now time.Time) (*patchbay.APIKey, error) {
	var out *patchbay.APIKey
	err := s.tx(ctx, func(tx pgx.Tx) error {
		k, err := scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1 AND account_id = $2`, id, accountID))
		if errors.Is(err, pgx.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "key not found")
		}
		if err != nil {
			return err
		}
		if k.Role == patchbay.RoleAdmin {
			rows, err := tx.Query(ctx, `SELECT id, expires_at FROM api_keys WHERE account_id = $1 AND role = 'admin'
				ORDER BY id FOR UPDATE`, accountID)
			admins, err := collect(rows, err, func(r rowScanner) (adminKey, error) {
				var a adminKey
				err := r.Scan(&a.id, &a.expiresAt)
				return a, err
			})
			if err != nil {
				return err
			}
			found, others := false, 0
			for _, a := range admins {
				switch {
				case a.id == id:
					found = true
				case a.expiresAt == nil || *a.expiresAt > now.Unix():
					others++
				}
			}
			if !found { // deleted by someone else while we waited
				return patchbay.Errorf(patchbay.ENotFound, "key not found")
			}
			if !k.Expired(now) && others == 0 {
				return patchbay.Errorf(patchbay.EConflict, "cannot delete the last admin key of the account").Reason("last_admin_key")
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM api_keys WHERE id = $1 AND account_id = $2`, id, accountID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return patchbay.Errorf(patchbay.ENotFound, "key not found")
		}
		out = k
		return nil
	})
	return out, err
}

type adminKey struct {
	id        string
	expiresAt *int64
}

// TouchAPIKey sets lastUsedAt.
func (s *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, at.Unix(), id)
	return storeErr(err)
}

// UserHasAPIKey reports whether the user holds a key of the account.
func (s *DB) UserHasAPIKey(ctx context.Context, accountID, userID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE account_id = $1 AND user_id = $2)`, accountID, userID).Scan(&ok)
	return ok, storeErr(err)
}
