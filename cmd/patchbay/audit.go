package main

import (
	"context"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ids"
)

// auditCLI records a change made from the command line (actor kind cli).
func auditCLI(ctx context.Context, s patchbay.AuditService, accountID, typ string, details map[string]any) {
	now := time.Now().UTC()
	_ = s.WriteAudit(ctx, &patchbay.AuditEvent{ID: ids.EventID(now), Type: typ, Time: now, AccountID: accountID,
		Actor: patchbay.Actor{Kind: patchbay.ActorCLI}, Outcome: patchbay.OutcomeSuccess, Details: details})
}
