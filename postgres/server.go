package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.ServerService = (*DB)(nil)

const serverCols = `id, account_id, owner_id, name, description, custom_instructions, mode, is_public, restrictions, rate_limit, cache,
	allow_unverified, allow_secrets, token_hash, token_sealed, token_expires_at, version, created_at, updated_at`

// Constraint names from the migrations that the store maps to domain errors.
const (
	serversPKey      = "servers_pkey"
	serversNameKey   = "servers_name_key"
	serverPlaceholds = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19`
)

func scanServer(row rowScanner) (*patchbay.Server, error) {
	var (
		s                          patchbay.Server
		restr                      []byte
		rateLimit                  int32
		tokenExp, created, updated int64
	)
	if err := row.Scan(&s.ID, &s.AccountID, &s.OwnerID, &s.Name, &s.Description, &s.CustomInstructions, &s.Mode, &s.IsPublic, &restr,
		&rateLimit, &s.Cache, &s.AllowUnverifiedUserIDs, &s.AllowSecretsInToolArguments, &s.TokenHash, &s.TokenSealed, &tokenExp,
		&s.Version, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(restr, &s.Restrictions); err != nil {
		return nil, err
	}
	s.RateLimit = int(rateLimit)
	s.TokenExpiresAt, s.CreatedAt, s.UpdatedAt = fromUnix(tokenExp), fromUnix(created), fromUnix(updated)
	return &s, nil
}

func serverArgs(s *patchbay.Server) ([]any, error) {
	restr, err := json.Marshal(&s.Restrictions)
	if err != nil {
		return nil, err
	}
	return []any{s.ID, s.AccountID, s.OwnerID, s.Name, s.Description, s.CustomInstructions, s.Mode, s.IsPublic, string(restr),
		s.RateLimit, s.Cache, s.AllowUnverifiedUserIDs, s.AllowSecretsInToolArguments, notNullBytes(s.TokenHash), notNullBytes(s.TokenSealed),
		unix(s.TokenExpiresAt), s.Version, unix(s.CreatedAt), unix(s.UpdatedAt)}, nil
}

func nameTaken(name string) error {
	return patchbay.Errorf(patchbay.EConflict, "a server named %q already exists", name).Field("name")
}

func idTaken() error {
	return patchbay.Errorf(patchbay.EConflict, "server ID taken").Reason("id_taken")
}

// CreateServer stores s. The unique constraints decide, so two instances
// creating the same name or ID at once cannot both succeed. When both the ID
// and the name clash, the name is reported, as SQLite does.
func (s *DB) CreateServer(ctx context.Context, srv *patchbay.Server) error {
	if srv.Version == 0 {
		srv.Version = 1
	}
	args, err := serverArgs(srv)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO servers (`+serverCols+`) VALUES (`+serverPlaceholds+`)`, args...)
	switch c, ok := uniqueConstraint(err); {
	case !ok:
		return storeErr(err)
	case c == serversNameKey:
		return nameTaken(srv.Name)
	default:
		var clash bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM servers WHERE account_id = $1 AND owner_id = $2 AND name = $3)`,
			srv.AccountID, srv.OwnerID, srv.Name).Scan(&clash); err != nil {
			return storeErr(err)
		}
		if clash {
			return nameTaken(srv.Name)
		}
		return idTaken()
	}
}

// FindServer returns the server with this ID in any account.
func (s *DB) FindServer(ctx context.Context, id string) (*patchbay.Server, error) {
	srv, err := scanServer(s.pool.QueryRow(ctx, `SELECT `+serverCols+` FROM servers WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return srv, storeErr(err)
}

// ServerVersion returns the configuration version of a server (in any
// account) without reading the rest of it: a cheap check of whether a
// cached copy is current. ENotFound if absent.
func (s *DB) ServerVersion(ctx context.Context, id string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM servers WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return v, storeErr(err)
}

// ListServers returns one owner's servers, newest first.
func (s *DB) ListServers(ctx context.Context, accountID, ownerID string, limit, offset int) ([]*patchbay.Server, int, error) {
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM servers WHERE account_id = $1 AND owner_id = $2`, accountID, ownerID).
		Scan(&total); err != nil {
		return nil, 0, storeErr(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+serverCols+` FROM servers WHERE account_id = $1 AND owner_id = $2
		ORDER BY created_at DESC, id ASC LIMIT $3 OFFSET $4`, accountID, ownerID, sqlLimit(limit), max(offset, 0))
	out, err := collect(rows, err, scanServer)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return out, total, nil
}

// UpdateServer applies fn to the server in one transaction, holding the
// server's row lock, so concurrent updates on any instance apply one after
// the other and each bumps the version.
func (s *DB) UpdateServer(ctx context.Context, accountID, id string, fn func(*patchbay.Server) (bool, error)) (*patchbay.Server, error) {
	var out *patchbay.Server
	err := s.tx(ctx, func(tx pgx.Tx) error {
		srv, err := scanServer(tx.QueryRow(ctx, `SELECT `+serverCols+` FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE`, id, accountID))
		if errors.Is(err, pgx.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "server not found")
		}
		if err != nil {
			return err
		}
		changed, err := fn(srv)
		if err != nil {
			return err
		}
		out = srv
		if !changed {
			return nil
		}
		srv.Version++
		srv.UpdatedAt = s.now().UTC().Truncate(time.Second)
		args, err := serverArgs(srv)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE servers SET (`+serverCols+`) = (`+serverPlaceholds+`) WHERE id = $20`, append(args, id)...)
		switch c, _ := uniqueConstraint(err); c {
		case serversNameKey:
			return nameTaken(srv.Name)
		case serversPKey:
			return idTaken()
		}
		return err
	})
	return out, err
}

// DeleteServer removes the server.
func (s *DB) DeleteServer(ctx context.Context, accountID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM servers WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return patchbay.Errorf(patchbay.ENotFound, "server not found")
	}
	return nil
}
