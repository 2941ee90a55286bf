package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.ConnectorService = (*DB)(nil)

// bumpConnectors increments the account's connector version. The upsert is
// atomic, so concurrent changes on several instances each add one.
func bumpConnectors(ctx context.Context, tx pgx.Tx, accountID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO connector_versions (account_id, version) VALUES ($1, 1)
		ON CONFLICT (account_id) DO UPDATE SET version = connector_versions.version + 1`, accountID)
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO connectors (account_id, id, origin, definition, headers_sealed, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.AccountID, c.ID, c.Origin, string(def), headersSealed, c.Version, unix(c.CreatedAt), unix(c.UpdatedAt))
		if err != nil {
			if isUnique(err) {
				return patchbay.Errorf(patchbay.EConflict, "connector %q already exists", c.ID).Field("id")
			}
			return err
		}
		return bumpConnectors(ctx, tx, c.AccountID)
	})
}

const connectorCols = `account_id, origin, definition, headers_sealed, version, created_at, updated_at`

func scanConnector(row rowScanner) (*patchbay.Connector, []byte, error) {
	var (
		c                 patchbay.Connector
		def               string
		headers           []byte
		accountID, origin string
		version           int64
		created, updated  int64
	)
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

func connectorNotFound() error {
	return patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
}

// FindConnector returns a custom connector.
func (s *DB) FindConnector(ctx context.Context, accountID, id string) (*patchbay.Connector, []byte, error) {
	c, h, err := scanConnector(s.pool.QueryRow(ctx, `SELECT `+connectorCols+` FROM connectors WHERE account_id = $1 AND id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, connectorNotFound()
	}
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return c, h, nil
}

// ListConnectors returns the account's custom connectors.
func (s *DB) ListConnectors(ctx context.Context, accountID string) ([]*patchbay.Connector, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+connectorCols+` FROM connectors WHERE account_id = $1 ORDER BY id`, accountID)
	out, err := collect(rows, err, func(r rowScanner) (*patchbay.Connector, error) {
		c, _, err := scanConnector(r)
		return c, err
	})
	return out, storeErr(err)
}

// UpdateConnector replaces a custom connector.
func (s *DB) UpdateConnector(ctx context.Context, c *patchbay.Connector, headersSealed []byte) error {
	def, err := json.Marshal(c)
	if err != nil {
		return err
	}
	updated := s.now().UTC().Truncate(time.Second)
	return s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE connectors SET origin = $1, definition = $2, headers_sealed = $3, version = version + 1, updated_at = $4
			WHERE account_id = $5 AND id = $6 RETURNING version`, c.Origin, string(def), headersSealed, unix(updated), c.AccountID, c.ID).
			Scan(&c.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			return connectorNotFound()
		}
		if err != nil {
			return err
		}
		c.UpdatedAt = updated
		return bumpConnectors(ctx, tx, c.AccountID)
	})
}

// DeleteConnector removes a custom connector. Its row lock makes a
// concurrent update or delete of the same connector wait for this one.
func (s *DB) DeleteConnector(ctx context.Context, accountID, id string, force bool) ([]patchbay.CredentialRef, error) {
	var deleted []patchbay.CredentialRef
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM connectors WHERE account_id = $1 AND id = $2 FOR UPDATE`, accountID, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return connectorNotFound()
		}
		if err != nil {
			return err
		}
		refs, err := credentialRefs(ctx, tx, `SELECT id, user_id, connector_id, status FROM credentials
			WHERE account_id = $1 AND connector_id = $2 AND connector_source = 'custom' FOR UPDATE`, accountID, id)
		if err != nil {
			return err
		}
		creds := len(refs)
		if creds > 0 && !force {
			return patchbay.Errorf(patchbay.EConflict, "connector %q still has %d credentials; delete them or pass force=true", id, creds).
				With("credentialCount", creds)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE account_id = $1 AND connector_id = $2 AND connector_source = 'custom'`, accountID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_apps WHERE account_id = $1 AND connector_id = $2`, accountID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM connectors WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		// The rows are locked, so the list is exactly what was deleted.
		deleted = refs
		return bumpConnectors(ctx, tx, accountID)
	})
	return deleted, err
}

// ConnectorsVersion returns the account's custom-connector version.
func (s *DB) ConnectorsVersion(ctx context.Context, accountID string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM connector_versions WHERE account_id = $1`, accountID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, storeErr(err)
}

// CustomConnectorAccounts lists accounts with a custom connector of this ID.
func (s *DB) CustomConnectorAccounts(ctx context.Context, id string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id FROM connectors WHERE id = $1 ORDER BY account_id`, id)
	out, err := collect(rows, err, func(r rowScanner) (string, error) {
		var a string
		err := r.Scan(&a)
		return a, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, storeErr(err)
}

// credentialRefs lists the credentials a bulk change is about to touch.
func credentialRefs(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]patchbay.CredentialRef, error) {
	rows, err := tx.Query(ctx, query, args...)
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
