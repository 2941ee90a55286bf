package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts
			(id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.ID, a.Name, string(uris), nullRaw(a.JWTPublicKeys), a.JWTCurrent.Version, a.Version, unix(a.CreatedAt), unix(a.UpdatedAt))
		if err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "account %q already exists", a.ID).Field("accountId")
			}
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES ($1, $2, $3, $4)`,
			a.ID, a.JWTCurrent.Version, notNullBytes(a.JWTCurrent.Sealed), unix(a.JWTCurrent.CreatedAt))
		return err
	})
}

// FindAccount returns the account with its current and previous JWT secrets.
func (s *DB) FindAccount(ctx context.Context, id string) (*patchbay.Account, error) {
	a, err := findAccount(ctx, s.pool, id, false)
	return a, storeErr(err)
}

const accountCols = `id, name, allowed_redirect_uris, jwt_public_keys, jwt_current, jwt_previous, jwt_previous_valid_until, version, created_at, updated_at`

func scanAccount(row rowScanner) (*patchbay.Account, *int64, error) {
	var (
		a        patchbay.Account
		uris     []byte
		jwks     *string
		current  int64
		prev     *int64
		prevTill *int64
		created  int64
		updated  int64
	)
	if err := row.Scan(&a.ID, &a.Name, &uris, &jwks, &current, &prev, &prevTill, &a.Version, &created, &updated); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(uris, &a.AllowedRedirectURIs); err != nil {
		return nil, nil, err
	}
	if jwks != nil {
		a.JWTPublicKeys = json.RawMessage(*jwks)
	}
	if prevTill != nil {
		a.JWTPreviousValidUntil = fromUnix(*prevTill)
	}
	a.JWTCurrent.Version = int(current)
	a.CreatedAt, a.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &a, prev, nil
}

// findAccount reads the account and its JWT secrets; forUpdate locks the
// account row until the transaction ends, which serializes updates and
// rotations across instances. The lock is FOR NO KEY UPDATE so that rows
// referencing the account (keys, servers) can still be inserted meanwhile.
func findAccount(ctx context.Context, q querier, id string, forUpdate bool) (*patchbay.Account, error) {
	query := `SELECT ` + accountCols + ` FROM accounts WHERE id = $1`
	if forUpdate {
		query += ` FOR NO KEY UPDATE`
	}
	a, prev, err := scanAccount(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "account not found")
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT version, sealed, created_at FROM jwt_secrets WHERE account_id = $1 AND version = ANY ($2)`,
		id, []*int64{ptr(int64(a.JWTCurrent.Version)), prev})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			js      patchbay.JWTSecret
			version int64
			created int64
		)
		if err := rows.Scan(&version, &js.Sealed, &created); err != nil {
			return nil, err
		}
		js.Version, js.CreatedAt = int(version), fromUnix(created)
		if js.Version == a.JWTCurrent.Version {
			a.JWTCurrent = js
		} else {
			p := js
			a.JWTPrevious = &p
		}
	}
	return a, rows.Err()
}

func ptr[T any](v T) *T { return &v }

// ListAccounts returns all accounts ordered by ID (without JWT secrets).
func (s *DB) ListAccounts(ctx context.Context) ([]*patchbay.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY id`)
	out, err := collect(rows, err, func(r rowScanner) (*patchbay.Account, error) {
		a, _, err := scanAccount(r)
		return a, err
	})
	if len(out) == 0 {
		out = nil // as SQLite: no accounts is a nil slice
	}
	return out, storeErr(err)
}

// UpdateAccount applies fn to the account in one transaction, holding the
// account's row lock.
func (s *DB) UpdateAccount(ctx context.Context, id string, fn func(a *patchbay.Account) (bool, error)) (*patchbay.Account, error) {
	var out *patchbay.Account
	err := s.tx(ctx, func(tx pgx.Tx) error {
		a, err := findAccount(ctx, tx, id, true)
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
			if _, err := tx.Exec(ctx, `UPDATE accounts SET name = $1, allowed_redirect_uris = $2, jwt_public_keys = $3, version = $4, updated_at = $5
				WHERE id = $6`, a.Name, string(uris), nullRaw(a.JWTPublicKeys), a.Version, unix(a.UpdatedAt), id); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// RotateJWTSecret makes next the current secret. The account's row lock
// makes concurrent rotations queue, so each sees the other's result.
func (s *DB) RotateJWTSecret(ctx context.Context, id string, next patchbay.JWTSecret, graceUntil time.Time) (*patchbay.Account, error) {
	var out *patchbay.Account
	err := s.tx(ctx, func(tx pgx.Tx) error {
		a, err := findAccount(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO jwt_secrets (account_id, version, sealed, created_at) VALUES ($1, $2, $3, $4)`,
			id, next.Version, notNullBytes(next.Sealed), unix(next.CreatedAt)); err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "JWT secret version %d already exists", next.Version)
			}
			return err
		}
		// Secrets older than the new previous one can never verify again.
		if _, err := tx.Exec(ctx, `DELETE FROM jwt_secrets WHERE account_id = $1 AND version < $2`, id, a.JWTCurrent.Version); err != nil {
			return err
		}
		a.Version++
		a.UpdatedAt = s.now().UTC().Truncate(time.Second)
		if _, err := tx.Exec(ctx, `UPDATE accounts SET jwt_current = $1, jwt_previous = $2, jwt_previous_valid_until = $3, version = $4, updated_at = $5
			WHERE id = $6`, next.Version, a.JWTCurrent.Version, unix(graceUntil), a.Version, unix(a.UpdatedAt), id); err != nil {
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

// nullRaw stores an absent JWKS document as NULL.
func nullRaw(r json.RawMessage) *string {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	v := string(r)
	return &v
}
