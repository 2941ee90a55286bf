package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/internal/testenv"
)

// A batch whose commit was not acknowledged is written again by the
// gateway's audit writer: the events already stored are skipped, the rest
// are added, and nothing is doubled.
func TestWriteAuditAgain(t *testing.T) {
	ctx := context.Background()
	db := open(t, testenv.Postgres(t), nil)
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	event := func(id string) *patchbay.AuditEvent {
		return &patchbay.AuditEvent{ID: id, Type: "tool.called", Time: at, AccountID: "acme",
			Actor: patchbay.Actor{Kind: patchbay.ActorServerToken, UserID: "u1"}, UserID: "u1", Outcome: patchbay.OutcomeSuccess}
	}
	first := []*patchbay.AuditEvent{event("evt_1"), event("evt_2")}
	if err := db.WriteAudit(ctx, first...); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteAudit(ctx, append(first, event("evt_3"))...); err != nil {
		t.Fatalf("writing a batch again: %v", err)
	}
	got, _, err := db.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if d := cmp.Diff([]string{"evt_3", "evt_2", "evt_1"}, ids); d != "" {
		t.Fatalf("stored events (-want +got):\n%s", d)
	}
}
