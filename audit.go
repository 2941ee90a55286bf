package patchbay

import (
	"context"
	"time"
)

// Audit outcomes (§16).
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// AuditEvent is one entry of the audit log (§16). It never holds secrets,
// tool arguments or upstream bodies.
type AuditEvent struct {
	ID           string
	Type         string
	Time         time.Time
	AccountID    string
	Actor        Actor
	UserID       string
	ServerID     string
	ConnectorID  string
	ActionID     string
	CredentialID string
	RequestID    string
	Outcome      string
	ErrorCode    string
	DurationMs   *int64
	ClientIP     string
	Details      map[string]any
}

// Actor is who caused an audit event.
type Actor struct {
	Kind   string // ActorAPIKey, ActorUserJWT, ActorServerToken, ActorSystem, ActorCLI
	KeyID  string
	UserID string
}

// AuditFilter narrows ListAudit. Type is exact, or a prefix when it ends in ".*".
type AuditFilter struct {
	ServerID string
	UserID   string
	Type     string
	Limit    int
	// Before is the position after which the previous page ended (exclusive):
	// events strictly older than (Time, ID). Zero for the first page.
	BeforeTime time.Time
	BeforeID   string
}

// AuditService stores audit events.
type AuditService interface {
	// WriteAudit appends events.
	WriteAudit(ctx context.Context, events ...*AuditEvent) error
	// ListAudit returns the account's events newest first (Time then ID
	// descending), at most f.Limit, and whether more exist.
	ListAudit(ctx context.Context, accountID string, f AuditFilter) ([]*AuditEvent, bool, error)
	// PruneAudit deletes events older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}
