package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

var _ patchbay.AuditService = (*DB)(nil)

// auditRow is one tuple of the audit insert.
const auditRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// WriteAudit appends events in one transaction, as multi-row inserts:
// the gateway writes in batches, and one statement per batch costs a
// fraction of one per event in the pure-Go driver.
func (s *DB) WriteAudit(ctx context.Context, events ...*patchbay.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	const perStatement = 500 // 18 parameters a row, under SQLite's 32766
	return s.tx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(events); start += perStatement {
			batch := events[start:min(len(events), start+perStatement)]
			var q strings.Builder
			q.WriteString(`INSERT OR IGNORE INTO audit_events (id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id,
				user_id, server_id, connector_id, action_id, credential_id, request_id, outcome, error_code, duration_ms, client_ip, details) VALUES `)
			args := make([]any, 0, 18*len(batch))
			for i, e := range batch {
				if i > 0 {
					q.WriteByte(',')
				}
				q.WriteString(auditRow)
				details := []byte("{}")
				if len(e.Details) > 0 {
					var err error
					if details, err = json.Marshal(e.Details); err != nil {
						return err
					}
				}
				var dur sql.NullInt64
				if e.DurationMs != nil {
					dur = sql.NullInt64{Int64: *e.DurationMs, Valid: true}
				}
				args = append(args, e.ID, e.AccountID, e.Type, e.Time.UnixMilli(), e.Actor.Kind, nullString(e.Actor.KeyID),
					nullString(e.Actor.UserID), nullString(e.UserID), nullString(e.ServerID), nullString(e.ConnectorID), nullString(e.ActionID),
					nullString(e.CredentialID), nullString(e.RequestID), nullString(e.Outcome), nullString(e.ErrorCode), dur,
					nullString(e.ClientIP), string(details))
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListAudit returns the account's events newest first.
func (s *DB) ListAudit(ctx context.Context, accountID string, f patchbay.AuditFilter) ([]*patchbay.AuditEvent, bool, error) {
	q := `SELECT id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id, user_id, server_id, connector_id, action_id,
		credential_id, request_id, outcome, error_code, duration_ms, client_ip, details FROM audit_events WHERE account_id = ?`
	args := []any{accountID}
	if f.ServerID != "" {
		q += ` AND server_id = ?`
		args = append(args, f.ServerID)
	}
	if f.UserID != "" {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if prefix, ok := strings.CutSuffix(f.Type, ".*"); ok {
		q += ` AND substr(type, 1, ?) = ?`
		args = append(args, len(prefix)+1, prefix+".")
	} else if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	if !f.BeforeTime.IsZero() {
		q += ` AND (time_ms < ? OR (time_ms = ? AND id < ?))`
		ms := f.BeforeTime.UnixMilli()
		args = append(args, ms, ms, f.BeforeID)
	}
	q += ` ORDER BY time_ms DESC, id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []*patchbay.AuditEvent{}
	for rows.Next() {
		var (
			e                                                       patchbay.AuditEvent
			ms                                                      int64
			keyID, actorUser, user, server, conn, action, cred, req sql.NullString
			outcome, code, ip                                       sql.NullString
			dur                                                     sql.NullInt64
			details                                                 string
		)
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Type, &ms, &e.Actor.Kind, &keyID, &actorUser, &user, &server, &conn, &action,
			&cred, &req, &outcome, &code, &dur, &ip, &details); err != nil {
			return nil, false, err
		}
		e.Time = time.UnixMilli(ms).UTC()
		e.Actor.KeyID, e.Actor.UserID = keyID.String, actorUser.String
		e.UserID, e.ServerID, e.ConnectorID, e.ActionID, e.CredentialID, e.RequestID = user.String, server.String, conn.String, action.String, cred.String, req.String
		e.Outcome, e.ErrorCode, e.ClientIP = outcome.String, code.String, ip.String
		if dur.Valid {
			d := dur.Int64
			e.DurationMs = &d
		}
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, false, err
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

// PruneAudit deletes events older than before.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM audit_events WHERE time_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
