package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.ServerService = (*DB)(nil)

const serverCols = `id, account_id, owner_id, name, description, custom_instructions, mode, is_public, restrictions, rate_limit, cache,
	allow_unverified, allow_secrets, token_hash, token_sealed, token_expires_at, version, created_at, updated_at`

func scanServer(row interface{ Scan(...any) error }) (*patchbay.Server, error) {
	var (
		s                                  patchbay.Server
		public, cache, unverified, secrets int
		restr                              string
		tokenExp, created, updated         int64
	)
	if err := row.Scan(&s.ID, &s.AccountID, &s.OwnerID, &s.Name, &s.Description, &s.CustomInstructions, &s.Mode, &public, &restr,
		&s.RateLimit, &cache, &unverified, &secrets, &s.TokenHash, &s.TokenSealed, &tokenExp, &s.Version, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(restr), &s.Restrictions); err != nil {
		return nil, err
	}
	s.IsPublic, s.Cache, s.AllowUnverifiedUserIDs, s.AllowSecretsInToolArguments = public != 0, cache != 0, unverified != 0, secrets != 0
	s.TokenExpiresAt, s.CreatedAt, s.UpdatedAt = fromUnix(tokenExp), fromUnix(created), fromUnix(updated)
	return &s, nil
}

func serverArgs(s *patchbay.Server) ([]any, error) {
	restr, err := json.Marshal(&s.Restrictions)
	if err != nil {
		return nil, err
	}
	return []any{s.ID, s.AccountID, s.OwnerID, s.Name, s.Description, s.CustomInstructions, s.Mode, boolInt(s.IsPublic), string(restr),
		s.RateLimit, boolInt(s.Cache), boolInt(s.AllowUnverifiedUserIDs), boolInt(s.AllowSecretsInToolArguments), s.TokenHash, s.TokenSealed,
		unix(s.TokenExpiresAt), s.Version, unix(s.CreatedAt), unix(s.UpdatedAt)}, nil
}

func nameTaken(name string) error {
	return patchbay.Errorf(patchbay.EConflict, "a server named %q already exists", name).Field("name")
}

// CreateServer stores s.
func (s *DB) CreateServer(ctx context.Context, srv *patchbay.Server) error {
	if srv.Version == 0 {
		srv.Version = 1
	}
	args, err := serverArgs(srv)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM servers WHERE account_id = ? AND owner_id = ? AND name = ?`,
			srv.AccountID, srv.OwnerID, srv.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nameTaken(srv.Name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO servers (`+serverCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if err != nil && isUnique(err) {
			return patchbay.Errorf(patchbay.EConflict, "server ID taken").Reason("id_taken")
		}
		return err
	})
}

// FindServer returns the server with this ID in any account.
func (s *DB) FindServer(ctx context.Context, id string) (*patchbay.Server, error) {
	srv, err := scanServer(s.db.QueryRowContext(ctx, `SELECT `+serverCols+` FROM servers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return srv, err
}

// ListServers returns one owner's servers, newest first.
func (s *DB) ListServers(ctx context.Context, accountID, ownerID string, limit, offset int) ([]*patchbay.Server, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM servers WHERE account_id = ? AND owner_id = ?`, accountID, ownerID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+serverCols+` FROM servers WHERE account_id = ? AND owner_id = ?
		ORDER BY created_at DESC, id ASC LIMIT ? OFFSET ?`, accountID, ownerID, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*patchbay.Server{}
	for rows.Next() {
		srv, err := scanServer(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, srv)
	}
	return out, total, rows.Err()
}

// UpdateServer applies fn to the server in one transaction.
func (s *DB) UpdateServer(ctx context.Context, accountID, id string, fn func(*patchbay.Server) (bool, error)) (*patchbay.Server, error) {
	var out *patchbay.Server
	err := s.tx(ctx, func(tx *sql.Tx) error {
		srv, err := scanServer(tx.QueryRowContext(ctx, `SELECT `+serverCols+` FROM servers WHERE id = ? AND account_id = ?`, id, accountID))
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "server not found")
		}
		if err != nil {
			return err
		}
		oldName := srv.Name
		changed, err := fn(srv)
		if err != nil {
			return err
		}
		out = srv
		if !changed {
			return nil
		}
		if srv.Name != oldName {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM servers WHERE account_id = ? AND owner_id = ? AND name = ? AND id <> ?`,
				srv.AccountID, srv.OwnerID, srv.Name, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nameTaken(srv.Name)
			}
		}
		srv.Version++
		srv.UpdatedAt = s.now().UTC().Truncate(time.Second)
		args, err := serverArgs(srv)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE servers SET (`+serverCols+`) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`,
			append(args, id)...)
		return err
	})
	return out, err
}

// DeleteServer removes the server.
func (s *DB) DeleteServer(ctx context.Context, accountID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM servers WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return nil
}
