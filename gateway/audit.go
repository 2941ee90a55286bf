package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/strictjson"
)

// auditWriter batches data-plane audit events off the request path. The
// queue is bounded: when the database cannot keep up, events are dropped
// and counted in the log rather than slowing MCP calls. While the database
// is unreachable (§17.5: warm calls are still served) the events wait, up
// to maxPendingAudit of them, and are written when it returns.
type auditWriter struct {
	store   patchbay.AuditService
	log     *slog.Logger
	ch      chan *patchbay.AuditEvent
	done    chan struct{}
	once    sync.Once
	dropped int
	mu      sync.Mutex
}

// maxPendingAudit bounds the events kept through a database outage.
const maxPendingAudit = 8192

func newAuditWriter(store patchbay.AuditService, log *slog.Logger) *auditWriter {
	w := &auditWriter{store: store, log: log, ch: make(chan *patchbay.AuditEvent, 8192), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *auditWriter) add(e *patchbay.AuditEvent) {
	select {
	case w.ch <- e:
	default:
		w.drop()
	}
}

func (w *auditWriter) drop() {
	w.mu.Lock()
	w.dropped++
	w.mu.Unlock()
}

func (w *auditWriter) run() {
	defer close(w.done)
	batch := make([]*patchbay.AuditEvent, 0, 1024)
	waiting := false // the last write found the database unreachable
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.store.WriteAudit(ctx, batch...)
		cancel()
		switch {
		case err == nil:
			if waiting {
				w.log.Info("audit writes resumed", "events", len(batch))
				waiting = false
			}
			batch = batch[:0]
		case patchbay.IsCode(err, patchbay.EUnavailable):
			// Kept for the next tick. (The PostgreSQL store skips event IDs
			// it already holds: a batch whose commit went unacknowledged is
			// not doubled.)
			if !waiting {
				w.log.Error("audit write failed; keeping events until the database returns", "events", len(batch), "error", err.Error())
				waiting = true
			}
		default:
			w.log.Error("audit write failed", "events", len(batch), "error", err.Error())
			batch = batch[:0]
		}
		w.mu.Lock()
		if w.dropped > 0 {
			w.log.Warn("audit events dropped: queue full", "count", w.dropped)
			w.dropped = 0
		}
		w.mu.Unlock()
	}
	// Larger, less frequent transactions cost the database less per event;
	// a quarter second is still well inside what audit readers expect.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-w.ch:
			if !ok {
				flush()
				if len(batch) > 0 {
					w.log.Error("audit events lost at shutdown: the database is unreachable", "events", len(batch))
				}
				return
			}
			if len(batch) >= maxPendingAudit {
				w.drop()
				continue
			}
			batch = append(batch, e)
			// While the database is away only the tick retries.
			if len(batch) >= 1024 && !waiting {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (w *auditWriter) close() {
	w.once.Do(func() { close(w.ch) })
	<-w.done
}

func (h *Handler) event(c *call, typ, outcome string) *patchbay.AuditEvent {
	now := h.opts.Now().UTC()
	p := c.principal
	e := &patchbay.AuditEvent{ID: ids.EventID(now), Type: typ, Time: now, AccountID: p.AccountID,
		Actor: patchbay.Actor{Kind: p.Kind, KeyID: p.KeyID, UserID: p.UserID}, UserID: p.UserID, ServerID: c.server.ID,
		RequestID: c.requestID, Outcome: outcome, ClientIP: c.clientIP}
	return e
}

// toolCalled records tool.called with the argument names only (§16).
func (h *Handler) toolCalled(c *call, tool, kind string, raw json.RawMessage, res *mcp.CallToolResult) {
	var names []string
	if len(raw) > 0 {
		_ = strictjson.Members(raw, func(name, _ []byte) error {
			names = append(names, string(name))
			return nil
		})
	}
	if names == nil {
		names = []string{}
	}
	sort.Strings(names)
	outcome, code := patchbay.OutcomeSuccess, ""
	if res.IsError {
		outcome = patchbay.OutcomeFailure
		c.mu.Lock()
		code = c.errCode // recorded by fail
		c.mu.Unlock()
		if code == patchbay.EForbidden {
			outcome = patchbay.OutcomeDenied
		}
	}
	e := h.event(c, "tool.called", outcome)
	e.ErrorCode = code
	e.Details = map[string]any{"tool": tool, "argumentNames": names, "isError": res.IsError, "errorCode": nilIfEmpty(code)}
	h.audit.add(e)
	h.metrics().toolCall(kind, outcome)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// actionExecuted records action.executed for every upstream call or cache hit.
func (h *Handler) actionExecuted(c *call, connectorID, actionID, credID string, start time.Time, status int, hit bool, err error) {
	outcome := patchbay.OutcomeSuccess
	if err != nil {
		outcome = patchbay.OutcomeFailure
	}
	e := h.event(c, "action.executed", outcome)
	e.ConnectorID, e.ActionID = connectorID, actionID
	if credID != "-" {
		e.CredentialID = credID
	}
	if err != nil {
		e.ErrorCode = patchbay.ErrorCode(err)
	}
	ms := h.opts.Now().Sub(start).Milliseconds()
	e.DurationMs = &ms
	var st any
	if status > 0 {
		st = status
	}
	e.Details = map[string]any{"upstreamStatus": st, "cacheHit": hit}
	h.audit.add(e)
}

// deniedIf records access.denied for a FORBIDDEN tool error.
func (h *Handler) deniedIf(c *call, err error, connectorID, actionID string) {
	if patchbay.ErrorCode(err) != patchbay.EForbidden {
		return
	}
	reason, _ := patchbay.ErrorDetails(err)["reason"].(string)
	h.denied(c, reason, connectorID, actionID, patchbay.EForbidden)
}

func (h *Handler) denied(c *call, reason, connectorID, actionID, _ string) {
	e := h.event(c, "access.denied", patchbay.OutcomeDenied)
	e.ConnectorID, e.ActionID, e.ErrorCode = connectorID, actionID, patchbay.EForbidden
	e.Details = map[string]any{"reason": reason}
	h.audit.add(e)
}

// authFailed records auth.failed for a token URL of a known server.
func (h *Handler) authFailed(c *call, srv *patchbay.Server, reason string) {
	now := h.opts.Now().UTC()
	h.audit.add(&patchbay.AuditEvent{ID: ids.EventID(now), Type: "auth.failed", Time: now, AccountID: srv.AccountID,
		Actor: patchbay.Actor{Kind: patchbay.ActorServerToken}, ServerID: srv.ID, RequestID: c.requestID, Outcome: patchbay.OutcomeFailure,
		ErrorCode: patchbay.EUnauthorized, ClientIP: c.clientIP, Details: map[string]any{"reason": reason}})
}

// rateLimitedAudit records the first 429 per key per minute (§16).
func (h *Handler) rateLimitedAudit(c *call, d ratelimit.Decision) {
	key := c.server.ID + "\x00" + c.principal.UserID
	if !h.refusals.First(key, h.opts.Now()) {
		return
	}
	e := h.event(c, "rate.limited", patchbay.OutcomeDenied)
	e.ErrorCode = patchbay.ERateLimited
	e.Details = map[string]any{"limit": d.Limit}
	h.audit.add(e)
}
