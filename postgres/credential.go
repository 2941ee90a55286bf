package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.CredentialService = (*DB)(nil)

const credentialCols = `id, account_id, user_id, connector_id, connector_source, name, auth_type, status, config, scopes, bound_server_id,
	expires_at, last_used_at, created_at, updated_at, sealed, revision`

func scanCredential(row rowScanner) (*patchbay.Credential, error) {
	var (
		c                patchbay.Credential
		config, scopes   []byte
		bound            *string
		exp, used        *int64
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.AccountID, &c.UserID, &c.ConnectorID, &c.ConnectorSource, &c.Name, &c.AuthType, &c.Status, &config, &scopes,
		&bound, &exp, &used, &created, &updated, &c.Sealed, &c.Revision); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(config, &c.Config); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(scopes, &c.Scopes); err != nil {
		return nil, err
	}
	c.BoundServerID = fromNullString(bound)
	c.ExpiresAt, c.LastUsedAt = fromNullUnix(exp), fromNullUnix(used)
	c.CreatedAt, c.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &c, nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateCredential stores c.
func (s *DB) CreateCredential(ctx context.Context, c *patchbay.Credential) error {
	config, err := jsonText(nonNilMap(c.Config))
	if err != nil {
		return err
	}
	scopes, err := jsonText(nonNil(c.Scopes))
	if err != nil {
		return err
	}
	if c.Revision == 0 {
		c.Revision = 1
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		c.ID, c.AccountID, c.UserID, c.ConnectorID, c.ConnectorSource, c.Name, c.AuthType, c.Status, config, scopes, nullString(c.BoundServerID),
		nullUnix(c.ExpiresAt), nullUnix(c.LastUsedAt), unix(c.CreatedAt), unix(c.UpdatedAt), notNullBytes(c.Sealed), c.Revision)
	if isUnique(err) {
		return patchbay.Errorf(patchbay.EConflict, "credential already exists")
	}
	return storeErr(err)
}

func credentialNotFound() error { return patchbay.Errorf(patchbay.ENotFound, "credential not found") }

// FindCredential returns the user's credential.
func (s *DB) FindCredential(ctx context.Context, accountID, userID, id string) (*patchbay.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = $1 AND account_id = $2 AND user_id = $3`,
		id, accountID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, credentialNotFound()
	}
	return c, storeErr(err)
}

// ListCredentials returns the user's credentials, most recently used first.
func (s *DB) ListCredentials(ctx context.Context, accountID, userID string, f patchbay.CredentialFilter) ([]*patchbay.Credential, int, error) {
	// Empty filter values match everything, so one statement serves all
	// filter combinations and stays a cached prepared statement.
	const where = ` FROM credentials WHERE account_id = $1 AND user_id = $2
		AND ($3 = '' OR connector_id = $3) AND ($4 = '' OR bound_server_id = $4)`
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*)`+where, accountID, userID, f.ConnectorID, f.BoundServerID).Scan(&total); err != nil {
		return nil, 0, storeErr(err)
	}
	var limit *int // NULL: no limit, as for the zero value in SQLite
	if f.Limit > 0 {
		limit = &f.Limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+credentialCols+where+
		` ORDER BY last_used_at DESC NULLS LAST, created_at DESC, id ASC LIMIT $5 OFFSET $6`,
		accountID, userID, f.ConnectorID, f.BoundServerID, limit, max(f.Offset, 0))
	out, err := collect(rows, err, scanCredential)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return out, total, nil
}

// UpdateCredentialSecret writes a new secret if nobody else did meanwhile.
// The single UPDATE is the compare-and-swap across instances: a concurrent
// writer waits for the row lock, then PostgreSQL re-checks the revision
// against the committed row, so only one writer per revision matches.
func (s *DB) UpdateCredentialSecret(ctx context.Context, c *patchbay.Credential) error {
	config, err := jsonText(nonNilMap(c.Config))
	if err != nil {
		return err
	}
	scopes, err := jsonText(nonNil(c.Scopes))
	if err != nil {
		return err
	}
	updated := s.now().UTC().Truncate(time.Second)
	tag, err := s.pool.Exec(ctx, `UPDATE credentials SET sealed = $1, status = $2, scopes = $3, config = $4, expires_at = $5, name = $6,
		updated_at = $7, revision = revision + 1 WHERE id = $8 AND account_id = $9 AND revision = $10`,
		notNullBytes(c.Sealed), c.Status, scopes, config, nullUnix(c.ExpiresAt), c.Name, unix(updated), c.ID, c.AccountID, c.Revision)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE id = $1 AND account_id = $2)`, c.ID, c.AccountID).
			Scan(&exists); err != nil {
			return storeErr(err)
		}
		if !exists {
			return credentialNotFound()
		}
		return patchbay.Errorf(patchbay.EConflict, "credential changed concurrently").Reason("revision_changed")
	}
	c.UpdatedAt = updated
	c.Revision++
	return nil
}

// SetCredentialStatus changes a credential's status.
func (s *DB) SetCredentialStatus(ctx context.Context, accountID, id, status string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE credentials SET status = $1, updated_at = $2 WHERE id = $3 AND account_id = $4`,
		status, s.now().Unix(), id, accountID)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return credentialNotFound()
	}
	return nil
}

// TouchCredential sets lastUsedAt.
func (s *DB) TouchCredential(ctx context.Context, accountID, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE credentials SET last_used_at = $1 WHERE id = $2 AND account_id = $3`, at.Unix(), id, accountID)
	return storeErr(err)
}

// DeleteCredential removes the user's credential.
func (s *DB) DeleteCredential(ctx context.Context, accountID, userID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND account_id = $2 AND user_id = $3`, id, accountID, userID)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return credentialNotFound()
	}
	return nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
