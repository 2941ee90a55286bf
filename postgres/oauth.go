package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var (
	_ patchbay.OAuthAppService = (*DB)(nil)
	_ patchbay.FlowService     = (*DB)(nil)
)

const flowsStateKey = "flows_state_hash_key"

func revokeOAuthCredentials(ctx context.Context, tx pgx.Tx, accountID, connectorID string, now time.Time) ([]patchbay.CredentialRef, error) {
	refs, err := credentialRefs(ctx, tx, `SELECT id, user_id, connector_id, status FROM credentials
		WHERE account_id = $1 AND connector_id = $2 AND auth_type = 'oauth2' AND status <> 'revoked' FOR UPDATE`, accountID, connectorID)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	_, err = tx.Exec(ctx, `UPDATE credentials SET status = 'revoked', updated_at = $1
		WHERE account_id = $2 AND connector_id = $3 AND auth_type = 'oauth2' AND status <> 'revoked'`, now.Unix(), accountID, connectorID)
	return refs, err
}

// PutOAuthApp creates or replaces an OAuth app. An insert that loses to a
// concurrent one falls through to the update path, whose row lock orders
// the two writers, so a client change revokes credentials exactly once.
func (s *DB) PutOAuthApp(ctx context.Context, app *patchbay.OAuthApp) ([]patchbay.CredentialRef, error) {
	scopes, err := jsonText(nonNil(app.Scopes))
	if err != nil {
		return nil, err
	}
	var revoked []patchbay.CredentialRef
	err = s.tx(ctx, func(tx pgx.Tx) error {
		revoked = nil
		tag, err := tx.Exec(ctx, `INSERT INTO oauth_apps (account_id, connector_id, client_id, secret_sealed, scopes, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, connector_id) DO NOTHING`,
			app.AccountID, app.ConnectorID, app.ClientID, notNullBytes(app.SecretSealed), scopes, unix(app.CreatedAt), unix(app.UpdatedAt))
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var oldClient string
		var created int64
		err = tx.QueryRow(ctx, `SELECT client_id, created_at FROM oauth_apps WHERE account_id = $1 AND connector_id = $2 FOR UPDATE`,
			app.AccountID, app.ConnectorID).Scan(&oldClient, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			// Deleted between our insert and our read: a serialization
			// failure in all but name, so tx runs this again.
			return &retryError{}
		}
		if err != nil {
			return err
		}
		app.CreatedAt = fromUnix(created)
		if _, err := tx.Exec(ctx, `UPDATE oauth_apps SET client_id = $1, secret_sealed = $2, scopes = $3, updated_at = $4
			WHERE account_id = $5 AND connector_id = $6`, app.ClientID, notNullBytes(app.SecretSealed), scopes, unix(app.UpdatedAt),
			app.AccountID, app.ConnectorID); err != nil {
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
		scopes           []byte
		created, updated int64
	)
	err := s.pool.QueryRow(ctx, `SELECT client_id, secret_sealed, scopes, created_at, updated_at FROM oauth_apps
		WHERE account_id = $1 AND connector_id = $2`, accountID, connectorID).Scan(&app.ClientID, &app.SecretSealed, &scopes, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "OAuth app not found")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if err := json.Unmarshal(scopes, &app.Scopes); err != nil {
		return nil, err
	}
	app.CreatedAt, app.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &app, nil
}

// DeleteOAuthApp removes an OAuth app and revokes its credentials.
func (s *DB) DeleteOAuthApp(ctx context.Context, accountID, connectorID string) ([]patchbay.CredentialRef, error) {
	var revoked []patchbay.CredentialRef
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oauth_apps WHERE account_id = $1 AND connector_id = $2`, accountID, connectorID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return patchbay.Errorf(patchbay.ENotFound, "OAuth app not found")
		}
		revoked, err = revokeOAuthCredentials(ctx, tx, accountID, connectorID, s.now())
		return err
	})
	return revoked, err
}

const flowCols = `id, kind, account_id, user_id, server_id, bind, connector_id, connector_source, credential_id, auth_type, name, fields,
	redirect_uri, verifier_sealed, state_hash, created_at, expires_at, consumed_at, completed_at`

func scanFlow(row rowScanner) (*patchbay.Flow, error) {
	var (
		f                   patchbay.Flow
		server, cred        *string
		fields              []byte
		created, expires    int64
		consumed, completed *int64
	)
	if err := row.Scan(&f.ID, &f.Kind, &f.AccountID, &f.UserID, &server, &f.Bind, &f.ConnectorID, &f.ConnectorSource, &cred, &f.AuthType, &f.Name,
		&fields, &f.RedirectURI, &f.VerifierSealed, &f.StateHash, &created, &expires, &consumed, &completed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fields, &f.Fields); err != nil {
		return nil, err
	}
	f.ServerID, f.CredentialID = fromNullString(server), fromNullString(cred)
	f.CreatedAt, f.ExpiresAt = fromUnix(created), fromUnix(expires)
	f.ConsumedAt, f.CompletedAt = fromNullUnix(consumed), fromNullUnix(completed)
	return &f, nil
}

func stateTaken() error { return patchbay.Errorf(patchbay.EConflict, "OAuth state already in use") }

// CreateFlow stores a flow.
func (s *DB) CreateFlow(ctx context.Context, f *patchbay.Flow) error {
	fields, err := jsonText(nonNilMap(f.Fields))
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO flows (`+flowCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		f.ID, f.Kind, f.AccountID, f.UserID, nullString(f.ServerID), f.Bind, f.ConnectorID, f.ConnectorSource, nullString(f.CredentialID),
		f.AuthType, f.Name, fields, f.RedirectURI, f.VerifierSealed, nullBytes(f.StateHash), unix(f.CreatedAt), unix(f.ExpiresAt),
		nullUnix(f.ConsumedAt), nullUnix(f.CompletedAt))
	if c, ok := uniqueConstraint(err); ok {
		if c == flowsStateKey {
			return stateTaken()
		}
		return patchbay.Errorf(patchbay.EConflict, "flow already exists")
	}
	return storeErr(err)
}

// FindFlow returns a flow.
func (s *DB) FindFlow(ctx context.Context, id string) (*patchbay.Flow, error) {
	f, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, patchbay.Errorf(patchbay.ENotFound, "flow not found")
	}
	return f, storeErr(err)
}

// ConsumeFlow marks a flow used, once. The row lock makes a second use on
// any instance wait, then see the first one's consumed_at.
func (s *DB) ConsumeFlow(ctx context.Context, id string, stateHash []byte, now time.Time) (*patchbay.Flow, error) {
	var out *patchbay.Flow
	err := s.tx(ctx, func(tx pgx.Tx) error {
		f, err := scanFlow(tx.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := tx.Exec(ctx, `UPDATE flows SET consumed_at = $1, state_hash = $2 WHERE id = $3 AND consumed_at IS NULL`,
			now.Unix(), nullBytes(stateHash), id)
		if c, _ := uniqueConstraint(err); c == flowsStateKey {
			return stateTaken()
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return patchbay.Errorf(patchbay.EConflict, "flow already used").Reason("used")
		}
		t := now.UTC().Truncate(time.Second)
		f.ConsumedAt, f.StateHash = &t, stateHash
		out = f
		return nil
	})
	return out, err
}

// CompleteFlow uses a flow's OAuth state, once, under the flow's row lock.
func (s *DB) CompleteFlow(ctx context.Context, stateHash []byte, now time.Time) (*patchbay.Flow, error) {
	var out *patchbay.Flow
	err := s.tx(ctx, func(tx pgx.Tx) error {
		f, err := scanFlow(tx.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE state_hash = $1 FOR UPDATE`, stateHash))
		if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := tx.Exec(ctx, `UPDATE flows SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL`, now.Unix(), f.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM flows WHERE expires_at < $1`, before.Unix())
	if err != nil {
		return 0, storeErr(err)
	}
	return int(tag.RowsAffected()), nil
}
