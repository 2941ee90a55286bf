package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/httpapi"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/vault"
)

// app is the assembled program: wire is the only place that constructs
// the parts and connects them.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      *sqlite.DB
	vault   *vault.Vault
	handler http.Handler // the main listener
	metrics http.Handler // nil unless --metrics-addr is set
	ops     *httpapi.Ops
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// wire assembles the server from an open store and vault.
func wire(cfg Config, log *slog.Logger, db *sqlite.DB, v *vault.Vault) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, vault: v}
	public, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "patchbay_build_info", Help: "Build version."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	rateLimited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_rate_limited_total", Help: "Requests refused by a rate limit."}, []string{"face"})
	reg.MustRegister(buildInfo, rateLimited)

	auth := authn.New(db, v, db, &authn.Options{
		CacheTTL:  cfg.ConfigCacheTTL,
		PublicURL: cfg.PublicURL,
		Logger:    log,
		OnFailure: func(ctx context.Context, accountID, reason string) {
			auditAuthFailure(ctx, db, log, accountID, reason)
		},
	})
	limiter := ratelimit.New(ratelimit.NewMemoryStore(nil), nil)

	api := httpapi.New(db, v, auth, limiter, &httpapi.Options{
		PublicURL:     cfg.PublicURL,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MgmtRateLimit: cfg.MgmtRateLimit,
		Logger:        log,
		OnRateLimited: func() { rateLimited.WithLabelValues("api").Inc() },
	})

	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	onMain := metricsHandler
	if cfg.MetricsAddr != "" {
		a.metrics, onMain = metricsHandler, nil
	}
	a.ops = httpapi.NewOps([]httpapi.Check{
		{Name: "database", Run: db.Ping},
		{Name: "redis"},
		{Name: "encryption", Run: func(ctx context.Context) error { return v.Check(ctx) }},
	}, onMain)

	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/api", api)
	a.ops.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		frontdoor.WriteError(w, r, log, patchbay.Errorf(patchbay.ENotFound, "Not found"))
	})

	door, err := frontdoor.New(mux, &frontdoor.Options{
		PublicURL:      public,
		AllowedHosts:   splitList(cfg.AllowedHosts),
		AllowedOrigins: splitList(cfg.AllowedOrigins),
		TrustedProxies: proxies,
		Logger:         log,
		Registry:       reg,
	})
	if err != nil {
		return nil, err
	}
	a.handler = door
	return a, nil
}

// auditAuthFailure records auth.failed for a known account (§16).
func auditAuthFailure(ctx context.Context, db *sqlite.DB, log *slog.Logger, accountID, reason string) {
	info := frontdoor.InfoFrom(ctx)
	now := time.Now().UTC()
	e := &patchbay.AuditEvent{ID: ids.EventID(now), Type: "auth.failed", Time: now, AccountID: accountID,
		Actor: patchbay.Actor{Kind: patchbay.ActorSystem}, RequestID: info.RequestID, Outcome: patchbay.OutcomeFailure,
		ErrorCode: patchbay.EUnauthorized, ClientIP: info.ClientIP, Details: map[string]any{"reason": reason}}
	if err := db.WriteAudit(ctx, e); err != nil {
		log.Warn("audit write failed", "type", e.Type, "error", err.Error())
	}
}
