package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var (
	_ patchbay.OAuthAppService = (*DB)(nil)
	_ patchbay.FlowService     = (*DB)(nil)
)

func revokeOAuthCredentials(ctx context.Context, tx *sql.Tx, accountID, connectorID string, now time.Time) ([]patchbay.CredentialRef, error) {
	refs, err := credentialRefs(ctx, tx, `SELECT id, user_id, connector_id, status FROM credentials
		WHERE account_id = ? AND connector_id = ? AND auth_type = 'oauth2' AND status <> 'revoked'`, accountID, connectorID)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE credentials SET status = 'revoked', updated_at = ?
		WHERE account_id = ? AND connector_id = ? AND auth_type = 'oauth2' AND status <> 'revoked'`, now.Unix(), accountID, connectorID)
	return refs, err
}

// PutOAuthApp creates or replaces an OAuth app.
func (s *DB) PutOAuthApp(ctx context.Context, app *patchbay.OAuthApp) ([]patchbay.CredentialRef, error) {
	scopes, err := jsonText(nonNil(app.Scopes))
	if err != nil {
		return nil, err
	}
	var revoked []patchbay.CredentialRef
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var oldClient string
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT client_id, created_at FROM oauth_apps WHERE account_id = ? AND connector_id = ?`,
			app.AccountID, app.ConnectorID).Scan(&oldClient, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO oauth_apps (account_id, connector_id, client_id, secret_sealed, scopes, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, app.AccountID, app.ConnectorID, app.ClientID, app.SecretSealed, scopes, unix(app.CreatedAt), unix(app.UpdatedAt))
			return err
		case err != nil:
			return err
		}
		app.CreatedAt = fromUnix(created)
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_apps SET client_id = ?, secret_sealed = ?, scopes = ?, updated_at = ?
			WHERE account_id = ? AND connector_id = ?`, app.ClientID, app.SecretSealed, scopes, unix(app.UpdatedAt), app.AccountID, app.ConnectorID); err != nil {
			return err
		}
		if oldClient != app.ClientID {
			revoked, err = revokeOAuthCredentials(ctx, tx, app.AccountID, app.ConnectorID, s.now())
		}
		return err
	})
	return revoked, err
}

// FindOAuthApp returns an OAuth app.
func (s *DB) FindOAuthApp(ctx context.Context, accountID, connectorID string) (*patchbay.OAuthApp, error) {
	var (
		app              = patchbay.OAuthApp{AccountID: accountID, ConnectorID: connectorID}
		scopes           string
		created, updated int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT client_id, secret_sealed, scopes, created_at, updated_at FROM oauth_apps WHERE account_id = ? AND connector_id = ?`,
		accountID, connectorID).Scan(&app.ClientID, &app.SecretSealed, &scopes, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "OAuth app not found")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &app.Scopes); err != nil {
		return nil, err
	}
	app.CreatedAt, app.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &app, nil
}

// DeleteOAuthApp removes an OAuth app and revokes its credentials.
func (s *DB) DeleteOAuthApp(ctx context.Context, accountID, connectorID string) ([]patchbay.CredentialRef, error) {
	var revoked []patchbay.CredentialRef
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_apps WHERE account_id = ? AND connector_id = ?`, accountID, connectorID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchbay.Errorf(patchbay.ENotFound, "OAuth app not found")
		}
		revoked, err = revokeOAuthCredentials(ctx, tx, accountID, connectorID, s.now())
		return err
	})
	return revoked, err
}

const flowCols = `id, kind, account_id, user_id, server_id, bind, connector_id, connector_source, credential_id, auth_type, name, fields,
	redirect_uri, verifier_sealed, state_hash, created_at, expires_at, consumed_at, completed_at`

func scanFlow(row interface{ Scan(...any) error }) (*patchbay.Flow, error) {
	var (
		f                   patchbay.Flow
		server, cred        sql.NullString
		bind                int
		fields              string
		created, expires    int64
		consumed, completed sql.NullInt64
	)
	if err := row.Scan(&f.ID, &f.Kind, &f.AccountID, &f.UserID, &server, &bind, &f.ConnectorID, &f.ConnectorSource, &cred, &f.AuthType, &f.Name,
		&fields, &f.RedirectURI, &f.VerifierSealed, &f.StateHash, &created, &expires, &consumed, &completed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fields), &f.Fields); err != nil {
		return nil, err
	}
	f.ServerID, f.CredentialID, f.Bind = server.String, cred.String, bind != 0
	f.CreatedAt, f.ExpiresAt = fromUnix(created), fromUnix(expires)
	f.ConsumedAt, f.CompletedAt = fromNullUnix(consumed), fromNullUnix(completed)
	return &f, nil
}

// CreateFlow stores a flow.
func (s *DB) CreateFlow(ctx context.Context, f *patchbay.Flow) error {
	fields, err := jsonText(nonNilMap(f.Fields))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO flows (`+flowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.Kind, f.AccountID, f.UserID, nullString(f.ServerID), boolInt(f.Bind), f.ConnectorID, f.ConnectorSource, nullString(f.CredentialID),
		f.AuthType, f.Name, fields, f.RedirectURI, f.VerifierSealed, nullBytes(f.StateHash), unix(f.CreatedAt), unix(f.ExpiresAt),
		nullUnix(f.ConsumedAt), nullUnix(f.CompletedAt))
	if err != nil && isUnique(err) {
		return patchbay.Errorf(patchbay.EConflict, "flow already exists")
	}
	return err
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// FindFlow returns a flow.
func (s *DB) FindFlow(ctx context.Context, id string) (*patchbay.Flow, error) {
	f, err := scanFlow(s.db.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "flow not found")
	}
	return f, err
}

// ConsumeFlow marks a flow used, once.
func (s *DB) ConsumeFlow(ctx context.Context, id string, stateHash []byte, now time.Time) (*patchbay.Flow, error) {
	var out *patchbay.Flow
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "flow not found")
		}
		if err != nil {
			return err
		}
		if f.ConsumedAt != nil {
			return patchbay.Errorf(patchbay.EConflict, "flow already used").Reason("used")
		}
		if !now.Before(f.ExpiresAt) {
			return patchbay.Errorf(patchbay.EConflict, "flow expired").Reason("expired")
		}
		res, err := tx.ExecContext(ctx, `UPDATE flows SET consumed_at = ?, state_hash = ? WHERE id = ? AND consumed_at IS NULL`,
			now.Unix(), nullBytes(stateHash), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return patchbay.Errorf(patchbay.EConflict, "flow already used").Reason("used")
		}
		t := now.UTC().Truncate(time.Second)
		f.ConsumedAt, f.StateHash = &t, stateHash
		out = f
		return nil
	})
	return out, err
}

// CompleteFlow uses a flow's OAuth state, once.
func (s *DB) CompleteFlow(ctx context.Context, stateHash []byte, now time.Time) (*patchbay.Flow, error) {
	var out *patchbay.Flow
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE state_hash = ?`, stateHash))
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENotFound, "flow not found")
		}
		if err != nil {
			return err
		}
		if f.CompletedAt != nil {
			return patchbay.Errorf(patchbay.EConflict, "state already used").Reason("used")
		}
		// The provider round trip starts when the link is used, so the state
		// lives for the flow lifetime from then on.
		if f.ConsumedAt == nil || !now.Before(f.ConsumedAt.Add(f.ExpiresAt.Sub(f.CreatedAt))) {
			return patchbay.Errorf(patchbay.EConflict, "flow expired").Reason("expired")
		}
		res, err := tx.ExecContext(ctx, `UPDATE flows SET completed_at = ? WHERE id = ? AND completed_at IS NULL`, now.Unix(), f.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return patchbay.Errorf(patchbay.EConflict, "state already used").Reason("used")
		}
		t := now.UTC().Truncate(time.Second)
		f.CompletedAt = &t
		out = f
		return nil
	})
	return out, err
}

// PruneFlows deletes long-expired flows.
func (s *DB) PruneFlows(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM flows WHERE expires_at < ?`, before.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
