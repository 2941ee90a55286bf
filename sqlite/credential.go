package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.CredentialService = (*DB)(nil)

const credentialCols = `id, account_id, user_id, connector_id, connector_source, name, auth_type, status, config, scopes, bound_server_id,
	expires_at, last_used_at, created_at, updated_at, sealed, revision`

func scanCredential(row interface{ Scan(...any) error }) (*patchbay.Credential, error) {
	var (
		c                patchbay.Credential
		config, scopes   string
		bound            sql.NullString
		exp, used        sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.AccountID, &c.UserID, &c.ConnectorID, &c.ConnectorSource, &c.Name, &c.AuthType, &c.Status, &config, &scopes,
		&bound, &exp, &used, &created, &updated, &c.Sealed, &c.Revision); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(config), &c.Config); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, err
	}
	c.BoundServerID = bound.String
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
	_, err = s.db.ExecContext(ctx, `INSERT INTO credentials (`+credentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, c.UserID, c.ConnectorID, c.ConnectorSource, c.Name, c.AuthType, c.Status, config, scopes, nullString(c.BoundServerID),
		nullUnix(c.ExpiresAt), nullUnix(c.LastUsedAt), unix(c.CreatedAt), unix(c.UpdatedAt), c.Sealed, c.Revision)
	if err != nil && isUnique(err) {
		return patchbay.Errorf(patchbay.EConflict, "credential already exists")
	}
	return err
}

func credentialNotFound() error { return patchbay.Errorf(patchbay.ENotFound, "credential not found") }

// FindCredential returns the user's credential.
func (s *DB) FindCredential(ctx context.Context, accountID, userID, id string) (*patchbay.Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = ? AND account_id = ? AND user_id = ?`,
		id, accountID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credentialNotFound()
	}
	return c, err
}

// ListCredentials returns the user's credentials, most recently used first.
func (s *DB) ListCredentials(ctx context.Context, accountID, userID string, f patchbay.CredentialFilter) ([]*patchbay.Credential, int, error) {
	where := ` FROM credentials WHERE account_id = ? AND user_id = ?`
	args := []any{accountID, userID}
	if f.ConnectorID != "" {
		where += ` AND connector_id = ?`
		args = append(args, f.ConnectorID)
	}
	if f.BoundServerID != "" {
		where += ` AND bound_server_id = ?`
		args = append(args, f.BoundServerID)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+credentialCols+where+
		` ORDER BY last_used_at IS NULL, last_used_at DESC, created_at DESC, id ASC LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*patchbay.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// UpdateCredentialSecret writes a new secret if nobody else did meanwhile.
func (s *DB) UpdateCredentialSecret(ctx context.Context, c *patchbay.Credential) error {
	config, err := jsonText(nonNilMap(c.Config))
	if err != nil {
		return err
	}
	scopes, err := jsonText(nonNil(c.Scopes))
	if err != nil {
		return err
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Second)
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET sealed = ?, status = ?, scopes = ?, config = ?, expires_at = ?, name = ?,
		updated_at = ?, revision = revision + 1 WHERE id = ? AND account_id = ? AND revision = ?`,
		c.Sealed, c.Status, scopes, config, nullUnix(c.ExpiresAt), c.Name, unix(c.UpdatedAt), c.ID, c.AccountID, c.Revision)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials WHERE id = ? AND account_id = ?`, c.ID, c.AccountID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return credentialNotFound()
		}
		return patchbay.Errorf(patchbay.EConflict, "credential changed concurrently").Reason("revision_changed")
	}
	c.Revision++
	return nil
}

// SetCredentialStatus changes a credential's status.
func (s *DB) SetCredentialStatus(ctx context.Context, accountID, id, status string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET status = ?, updated_at = ? WHERE id = ? AND account_id = ?`,
		status, s.now().Unix(), id, accountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return credentialNotFound()
	}
	return nil
}

// TouchCredential sets lastUsedAt.
func (s *DB) TouchCredential(ctx context.Context, accountID, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE credentials SET last_used_at = ? WHERE id = ? AND account_id = ?`, at.Unix(), id, accountID)
	return err
}

// DeleteCredential removes the user's credential.
func (s *DB) DeleteCredential(ctx context.Context, accountID, userID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM credentials WHERE id = ? AND account_id = ? AND user_id = ?`, id, accountID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
