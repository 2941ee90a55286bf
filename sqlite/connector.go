package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.ConnectorService = (*DB)(nil)

func bumpConnectors(ctx context.Context, tx *sql.Tx, accountID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO connector_versions (account_id, version) VALUES (?, 1)
		ON CONFLICT (account_id) DO UPDATE SET version = version + 1`, accountID)
	return err
}

// CreateConnector stores a custom connector.
func (s *DB) CreateConnector(ctx context.Context, c *patchbay.Connector, headersSealed []byte) error {
	def, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if c.Version == 0 {
		c.Version = 1
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO connectors (account_id, id, origin, definition, headers_sealed, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.AccountID, c.ID, c.Origin, string(def), headersSealed, c.Version, unix(c.CreatedAt), unix(c.UpdatedAt))
		if err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "connector %q already exists", c.ID).Field("id")
			}
			return err
		}
		return bumpConnectors(ctx, tx, c.AccountID)
	})
}

func scanConnector(row interface{ Scan(...any) error }) (*patchbay.Connector, []byte, error) {
	var (
		c                patchbay.Connector
		def              string
		headers          []byte
		created, updated int64
	)
	var accountID, origin string
	var version int64
	if err := row.Scan(&accountID, &origin, &def, &headers, &version, &created, &updated); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal([]byte(def), &c); err != nil {
		return nil, nil, err
	}
	c.AccountID, c.Origin, c.Version, c.Source = accountID, origin, version, patchbay.SourceCustom
	c.CreatedAt, c.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &c, headers, nil
}

const connectorCols = `account_id, origin, definition, headers_sealed, version, created_at, updated_at`

// FindConnector returns a custom connector.
func (s *DB) FindConnector(ctx context.Context, accountID, id string) (*patchbay.Connector, []byte, error) {
	c, h, err := scanConnector(s.db.QueryRowContext(ctx, `SELECT `+connectorCols+` FROM connectors WHERE account_id = ? AND id = ?`, accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
	}
	return c, h, err
}

// ListConnectors returns the account's custom connectors.
func (s *DB) ListConnectors(ctx context.Context, accountID string) ([]*patchbay.Connector, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+connectorCols+` FROM connectors WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*patchbay.Connector{}
	for rows.Next() {
		c, _, err := scanConnector(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateConnector replaces a custom connector.
func (s *DB) UpdateConnector(ctx context.Context, c *patchbay.Connector, headersSealed []byte) error {
	def, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		c.UpdatedAt = s.now().UTC().Truncate(time.Second)
		res, err := tx.ExecContext(ctx, `UPDATE connectors SET origin = ?, definition = ?, headers_sealed = ?, version = version + 1, updated_at = ?
			WHERE account_id = ? AND id = ?`, c.Origin, string(def), headersSealed, unix(c.UpdatedAt), c.AccountID, c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
		}
		if err := tx.QueryRowContext(ctx, `SELECT version, created_at FROM connectors WHERE account_id = ? AND id = ?`, c.AccountID, c.ID).
			Scan(&c.Version, new(int64)); err != nil {
			return err
		}
		return bumpConnectors(ctx, tx, c.AccountID)
	})
}

// DeleteConnector removes a custom connector.
func (s *DB) DeleteConnector(ctx context.Context, accountID, id string, force bool) ([]patchbay.CredentialRef, error) {
	var deleted []patchbay.CredentialRef
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM connectors WHERE account_id = ? AND id = ?`, accountID, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
		}
		refs, err := credentialRefs(ctx, tx, `SELECT id, user_id, connector_id, status FROM credentials
			WHERE account_id = ? AND connector_id = ? AND connector_source = 'custom'`, accountID, id)
		if err != nil {
			return err
		}
		creds := len(refs)
		if creds > 0 && !force {
			return patchbay.Errorf(patchbay.EConflict, "connector %q still has %d credentials; delete them or pass force=true", id, creds).
				With("credentialCount", creds)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE account_id = ? AND connector_id = ? AND connector_source = 'custom'`, accountID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_apps WHERE account_id = ? AND connector_id = ?`, accountID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM connectors WHERE account_id = ? AND id = ?`, accountID, id); err != nil {
			return err
		}
		deleted = refs
		return bumpConnectors(ctx, tx, accountID)
	})
	return deleted, err
}

// ConnectorsVersion returns the account's custom-connector version.
func (s *DB) ConnectorsVersion(ctx context.Context, accountID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT version FROM connector_versions WHERE account_id = ?`, accountID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// CustomConnectorAccounts lists accounts with a custom connector of this ID.
func (s *DB) CustomConnectorAccounts(ctx context.Context, id string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account_id FROM connectors WHERE id = ? ORDER BY account_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// credentialRefs lists the credentials a bulk change is about to touch.
func credentialRefs(ctx context.Context, q queryer, query string, args ...any) ([]patchbay.CredentialRef, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchbay.CredentialRef
	for rows.Next() {
		var r patchbay.CredentialRef
		if err := rows.Scan(&r.ID, &r.UserID, &r.ConnectorID, &r.Status); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
