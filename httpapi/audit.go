package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/ids"
)

// audit writes a control-plane event for the call's principal. A failure to
// write is logged, not returned: the change itself has committed.
func (h *Handler) audit(c *call, typ, outcome string, fill func(e *patchbay.AuditEvent)) {
	e := h.event(c.r, c.p, typ, outcome)
	if fill != nil {
		fill(e)
	}
	if err := h.store.WriteAudit(c.r.Context(), e); err != nil {
		h.opts.Logger.ErrorContext(c.r.Context(), "audit write failed", "type", typ, "error", err.Error())
	}
}

func (h *Handler) event(r *http.Request, p *patchbay.Principal, typ, outcome string) *patchbay.AuditEvent {
	now := h.opts.Now().UTC()
	info := frontdoor.InfoFrom(r.Context())
	return &patchbay.AuditEvent{ID: ids.EventID(now), Type: typ, Time: now, AccountID: p.AccountID, Actor: actor(p),
		UserID: p.UserID, RequestID: info.RequestID, Outcome: outcome, ClientIP: info.ClientIP}
}

func (h *Handler) auditDenied(r *http.Request, p *patchbay.Principal, reason string) {
	e := h.event(r, p, "access.denied", patchbay.OutcomeDenied)
	e.Details = map[string]any{"reason": reason}
	e.ErrorCode = patchbay.EForbidden
	if err := h.store.WriteAudit(r.Context(), e); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "audit write failed", "type", e.Type, "error", err.Error())
	}
}

// eventJSON is the §16 event object; unused IDs are null.
type eventJSON struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Time         string         `json:"time"`
	AccountID    string         `json:"accountId"`
	Actor        actorJSON      `json:"actor"`
	UserID       *string        `json:"userId"`
	ServerID     *string        `json:"serverId"`
	ConnectorID  *string        `json:"connectorId"`
	ActionID     *string        `json:"actionId"`
	CredentialID *string        `json:"credentialId"`
	RequestID    *string        `json:"requestId"`
	Outcome      *string        `json:"outcome"`
	ErrorCode    *string        `json:"errorCode"`
	DurationMs   *int64         `json:"durationMs"`
	ClientIP     *string        `json:"clientIp"`
	Details      map[string]any `json:"details"`
}

type actorJSON struct {
	Kind   string  `json:"kind"`
	KeyID  *string `json:"keyId"`
	UserID *string `json:"userId"`
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// EventJSON renders an audit event as the contract's object.
func EventJSON(e *patchbay.AuditEvent) any {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	return eventJSON{ID: e.ID, Type: e.Type, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), AccountID: e.AccountID,
		Actor:  actorJSON{Kind: e.Actor.Kind, KeyID: strOrNull(e.Actor.KeyID), UserID: strOrNull(e.Actor.UserID)},
		UserID: strOrNull(e.UserID), ServerID: strOrNull(e.ServerID), ConnectorID: strOrNull(e.ConnectorID), ActionID: strOrNull(e.ActionID),
		CredentialID: strOrNull(e.CredentialID), RequestID: strOrNull(e.RequestID), Outcome: strOrNull(e.Outcome),
		ErrorCode: strOrNull(e.ErrorCode), DurationMs: e.DurationMs, ClientIP: strOrNull(e.ClientIP), Details: details}
}

type auditCursor struct {
	T string `json:"t"`
	I string `json:"i"`
}

// listAudit serves GET /api/audit.
func (h *Handler) listAudit(c *call) error {
	q := c.r.URL.Query()
	f := patchbay.AuditFilter{ServerID: q.Get("serverId"), UserID: q.Get("userId"), Type: q.Get("type"), Limit: 50}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return patchbay.Errorf(patchbay.EInvalid, "limit must be an integer from 1 to 200").Field("limit")
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" || q.Has("cursor") {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		var cur auditCursor
		if err == nil {
			err = json.Unmarshal(raw, &cur)
		}
		var t time.Time
		if err == nil {
			t, err = time.Parse(time.RFC3339Nano, cur.T)
		}
		if err != nil || cur.I == "" {
			return patchbay.Errorf(patchbay.EInvalid, "cursor is malformed").Field("cursor")
		}
		f.BeforeTime, f.BeforeID = t, cur.I
	}
	events, more, err := h.store.ListAudit(c.r.Context(), c.p.AccountID, f)
	if err != nil {
		return err
	}
	out := make([]any, len(events))
	for i, e := range events {
		out[i] = EventJSON(e)
	}
	var next *string
	if more && len(events) > 0 {
		last := events[len(events)-1]
		b, _ := json.Marshal(auditCursor{T: last.Time.UTC().Format("2006-01-02T15:04:05.000Z"), I: last.ID})
		s := base64.RawURLEncoding.EncodeToString(b)
		next = &s
	}
	return c.json(http.StatusOK, map[string]any{"events": out, "nextCursor": next})
}
