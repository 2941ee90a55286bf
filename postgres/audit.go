package postgres

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.AuditService = (*DB)(nil)

// WriteAudit appends events in one transaction, sent as one batch (one
// round trip however many events the gateway's writer has collected). An
// event whose ID is already stored is skipped, so a batch whose commit was
// not acknowledged (the connection broke) can be written again.
func (s *DB) WriteAudit(ctx context.Context, events ...*patchbay.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, e := range events {
		details := []byte("{}")
		if len(e.Details) > 0 {
			var err error
			if details, err = json.Marshal(e.Details); err != nil {
				return err
			}
		}
		b.Queue(`INSERT INTO audit_events (id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id,
			user_id, server_id, connector_id, action_id, credential_id, request_id, outcome, error_code, duration_ms, client_ip, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			ON CONFLICT (id) DO NOTHING`,
			e.ID, e.AccountID, e.Type, e.Time.UnixMilli(), e.Actor.Kind, nullString(e.Actor.KeyID),
			nullString(e.Actor.UserID), nullString(e.UserID), nullString(e.ServerID), nullString(e.ConnectorID), nullString(e.ActionID),
			nullString(e.CredentialID), nullString(e.RequestID), nullString(e.Outcome), nullString(e.ErrorCode), e.DurationMs,
			nullString(e.ClientIP), string(details))
	}
	return s.tx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
}

// ListAudit returns the account's events newest first.
func (s *DB) ListAudit(ctx context.Context, accountID string, f patchbay.AuditFilter) ([]*patchbay.AuditEvent, bool, error) {
	var q strings.Builder
	q.WriteString(`SELECT id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id, user_id, server_id, connector_id, action_id,
		credential_id, request_id, outcome, error_code, duration_ms, client_ip, details FROM audit_events WHERE account_id = $1`)
	args := []any{accountID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.ServerID != "" {
		q.WriteString(` AND server_id = ` + arg(f.ServerID))
	}
	if f.UserID != "" {
		q.WriteString(` AND user_id = ` + arg(f.UserID))
	}
	if prefix, ok := strings.CutSuffix(f.Type, ".*"); ok {
		q.WriteString(` AND starts_with(type, ` + arg(prefix+".") + `)`)
	} else if f.Type != "" {
		q.WriteString(` AND type = ` + arg(f.Type))
	}
	if !f.BeforeTime.IsZero() {
		q.WriteString(` AND (time_ms, id) < (` + arg(f.BeforeTime.UnixMilli()) + `, ` + arg(f.BeforeID) + `)`)
	}
	q.WriteString(` ORDER BY time_ms DESC, id DESC LIMIT ` + arg(f.Limit+1))
	rows, err := s.pool.Query(ctx, q.String(), args...)
	out, err := collect(rows, err, scanAudit)
	if err != nil {
		return nil, false, storeErr(err)
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

func scanAudit(r rowScanner) (*patchbay.AuditEvent, error) {
	var (
		e                                                       patchbay.AuditEvent
		ms                                                      int64
		keyID, actorUser, user, server, conn, action, cred, req *string
		outcome, code, ip                                       *string
		details                                                 []byte
	)
	if err := r.Scan(&e.ID, &e.AccountID, &e.Type, &ms, &e.Actor.Kind, &keyID, &actorUser, &user, &server, &conn, &action,
		&cred, &req, &outcome, &code, &e.DurationMs, &ip, &details); err != nil {
		return nil, err
	}
	e.Time = time.UnixMilli(ms).UTC()
	e.Actor.KeyID, e.Actor.UserID = fromNullString(keyID), fromNullString(actorUser)
	e.UserID, e.ServerID, e.ConnectorID = fromNullString(user), fromNullString(server), fromNullString(conn)
	e.ActionID, e.CredentialID, e.RequestID = fromNullString(action), fromNullString(cred), fromNullString(req)
	e.Outcome, e.ErrorCode, e.ClientIP = fromNullString(outcome), fromNullString(code), fromNullString(ip)
	if err := json.Unmarshal(details, &e.Details); err != nil {
		return nil, err
	}
	return &e, nil
}

// PruneAudit deletes events older than before.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE time_ms < $1`, before.UnixMilli())
	if err != nil {
		return 0, storeErr(err)
	}
	return int(tag.RowsAffected()), nil
}
