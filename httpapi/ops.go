package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/patchbay-mcp/patchbay/frontdoor"
)

// Check is one readiness check; a nil Run reports "disabled".
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Ops serves /healthz, /readyz and, when metrics is non-nil, /metrics (§17.1).
type Ops struct {
	checks   []Check
	metrics  http.Handler
	draining atomic.Bool
}

// NewOps returns the operational endpoints.
func NewOps(checks []Check, metrics http.Handler) *Ops {
	return &Ops{checks: checks, metrics: metrics}
}

// Drain makes /readyz answer 503 from now on (shutdown, §17.5).
func (o *Ops) Drain() { o.draining.Store(true) }

// Register adds the routes to mux.
func (o *Ops) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		frontdoor.InfoFrom(r.Context()).SetRoute("GET /healthz")
		frontdoor.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", o.readyz)
	if o.metrics != nil {
		mux.Handle("GET /metrics", o.metrics)
	}
}

func (o *Ops) readyz(w http.ResponseWriter, r *http.Request) {
	frontdoor.InfoFrom(r.Context()).SetRoute("GET /readyz")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for _, c := range o.checks {
		switch {
		case c.Run == nil:
			checks[c.Name] = "disabled"
		case c.Run(ctx) != nil:
			checks[c.Name], ok = "error", false
		default:
			checks[c.Name] = "ok"
		}
	}
	if o.draining.Load() {
		ok = false
		checks["draining"] = "error"
	}
	status, code := "ready", http.StatusOK
	if !ok {
		status, code = "not_ready", http.StatusServiceUnavailable
	}
	frontdoor.WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}
