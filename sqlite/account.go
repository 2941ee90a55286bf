package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.AccountService = (*DB)(nil)

// CreateAccount stores a and its first JWT secret.
func (s *DB) CreateAccount(ctx context.Context, a *patchbay.Account) error {
	uris, err := json.Marshal(nonNil(a.AllowedRedirectURIs))
	if err != nil {
		return err
	}
	if a.Version == 0 {
		a.Version = 1
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts
			(id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Name, string(uris), nullRaw(a.JWTPublicKeys), a.JWTCurrent.Version, a.Version, unix(a.CreatedAt), unix(a.UpdatedAt))
		if err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "account %q already exists", a.ID).Field("accountId")
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES (?, ?, ?, ?)`,
			a.ID, a.JWTCurrent.Version, a.JWTCurrent.Sealed, unix(a.JWTCurrent.CreatedAt))
		return err
	})
}

// FindAccount returns the account with its current and previous JWT secrets.
func (s *DB) FindAccount(ctx context.Context, id string) (*patchbay.Account, error) {
	return findAccount(ctx, s.db, id)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const accountCols = `id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, jwt_previous, jwt_previous_valid_until, version, created_at, updated_at`

func scanAccount(row interface{ Scan(...any) error }) (*patchbay.Account, sql.NullInt64, error) {
	var (
		a        patchbay.Account
		uris     string
		jwks     sql.NullString
		prev     sql.NullInt64
		prevTill sql.NullInt64
		created  int64
		updated  int64
	)
	if err := row.Scan(&a.ID, &a.Name, &uris, &jwks, &a.JWTCurrent.Version, &prev, &prevTill, &a.Version, &created, &updated); err != nil {
		return nil, prev, err
	}
	if err := json.Unmarshal([]byte(uris), &a.AllowedRedirectURIs); err != nil {
		return nil, prev, err
	}
	if jwks.Valid {
		a.JWTPublicKeys = json.RawMessage(jwks.String)
	}
	if prevTill.Valid {
		a.JWTPreviousValidUntil = fromUnix(prevTill.Int64)
	}
	a.CreatedAt, a.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &a, prev, nil
}

func findAccount(ctx context.Context, q queryer, id string) (*patchbay.Account, error) {
	a, prev, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "account not found")
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT version, sealed, created_at FROM jwt_secrets WHERE account_id = ? AND version IN (?, ?)`,
		id, a.JWTCurrent.Version, prev)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var js patchbay.JWTSecret
		var created int64
		if err := rows.Scan(&js.Version, &js.Sealed, &created); err != nil {
			return nil, err
		}
		js.CreatedAt = fromUnix(created)
		if js.Version == a.JWTCurrent.Version {
			a.JWTCurrent = js
		} else {
			p := js
			a.JWTPrevious = &p
		}
	}
	return a, rows.Err()
}

// ListAccounts returns all accounts ordered by ID (without JWT secrets).
func (s *DB) ListAccounts(ctx context.Context) ([]*patchbay.Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*patchbay.Account
	for rows.Next() {
		a, _, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAccount applies fn to the account in one transaction.
func (s *DB) UpdateAccount(ctx context.Context, id string, fn func(a *patchbay.Account) (bool, error)) (*patchbay.Account, error) {
	var out *patchbay.Account
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, err := findAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		changed, err := fn(a)
		if err != nil {
			return err
		}
		if changed {
			uris, err := json.Marshal(nonNil(a.AllowedRedirectURIs))
			if err != nil {
				return err
			}
			a.Version++
			a.UpdatedAt = s.now().UTC().Truncate(time.Second)
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET name = ?, allowed_redirect_uris = ?, jwt_public_keys = ?, version = ?, updated_at = ? WHERE id = ?`,
				a.Name, string(uris), nullRaw(a.JWTPublicKeys), a.Version, unix(a.UpdatedAt), id); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// RotateJWTSecret makes next the current secret.
func (s *DB) RotateJWTSecret(ctx context.Context, id string, next patchbay.JWTSecret, graceUntil time.Time) (*patchbay.Account, error) {
	var out *patchbay.Account
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, err := findAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES (?, ?, ?, ?)`,
			id, next.Version, next.Sealed, unix(next.CreatedAt)); err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "JWT secret version %d already exists", next.Version)
			}
			return err
		}
		// Secrets older than the new previous one can never verify again.
		if _, err := tx.ExecContext(ctx, `DELETE FROM jwt_secrets WHERE account_id = ? AND version < ?`, id, a.JWTCurrent.Version); err != nil {
			return err
		}
		a.Version++
		a.UpdatedAt = s.now().UTC().Truncate(time.Second)
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET jwt_current = ?, jwt_previous = ?, jwt_previous_valid_until = ?, version = ?, updated_at = ? WHERE id = ?`,
			next.Version, a.JWTCurrent.Version, unix(graceUntil), a.Version, unix(a.UpdatedAt), id); err != nil {
			return err
		}
		prev := a.JWTCurrent
		a.JWTPrevious = &prev
		a.JWTPreviousValidUntil = graceUntil.UTC().Truncate(time.Second)
		a.JWTCurrent = next
		out = a
		return nil
	})
	return out, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullRaw(r json.RawMessage) sql.NullString {
	if len(r) == 0 || string(r) == "null" {
		return sql.NullString{}
	}
	return sql.NullString{String: string(r), Valid: true}
}
