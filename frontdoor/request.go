package frontdoor

import (
	"context"
	"net/http"
	"sync"

	"github.com/patchbay-mcp/patchbay/ids"
)

// Info is the per-request record that handlers annotate and the access log
// and metrics read once the response is written.
type Info struct {
	RequestID string
	Face      string // "api", "mcp", "oauth" or "ops"
	ClientIP  string
	mu        sync.Mutex
	route     string
	accountID string
	serverID  string
}

type infoKey struct{}

// InfoFrom returns the request's Info (never nil inside Handler).
func InfoFrom(ctx context.Context) *Info {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// RequestID returns the request ID of ctx, or "".
func RequestID(ctx context.Context) string { return InfoFrom(ctx).RequestID }

// SetRoute records the matched route pattern (never a path with IDs or tokens).
func (i *Info) SetRoute(route string) { i.mu.Lock(); i.route = route; i.mu.Unlock() }

// SetAccount records the account and server a request acted on, for logs.
func (i *Info) SetAccount(accountID, serverID string) {
	i.mu.Lock()
	if accountID != "" {
		i.accountID = accountID
	}
	if serverID != "" {
		i.serverID = serverID
	}
	i.mu.Unlock()
}

func (i *Info) snapshot() (route, account, server string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.route, i.accountID, i.serverID
}

// validRequestID reports whether an inbound X-Request-Id may be kept (§17.2).
func validRequestID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return false
	}
	return true
}

func newInfo(r *http.Request) *Info {
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = ids.RequestID()
	}
	return &Info{RequestID: id}
}

func contextWith(ctx context.Context, i *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, i)
}
