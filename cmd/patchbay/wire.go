package main

import (
	"context"
	"encoding/json"
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
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/gateway"
	"github.com/patchbay-mcp/patchbay/httpapi"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/oauth"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/registry"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/ssrf"
	"github.com/patchbay-mcp/patchbay/upstream"
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
	closers []func()
}

// close releases what wire started (queues are flushed).
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
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

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "patchbay_build_info", Help: "Build version."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	rateLimited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_rate_limited_total", Help: "Requests refused by a rate limit."}, []string{"face"})
	promReg.MustRegister(buildInfo, rateLimited)

	auth := authn.New(db, v, db, &authn.Options{
		CacheTTL:  cfg.ConfigCacheTTL,
		PublicURL: cfg.PublicURL,
		Logger:    log,
		OnFailure: func(ctx context.Context, accountID, reason string) {
			auditAuthFailure(ctx, db, log, accountID, reason)
		},
	})
	limiter := ratelimit.New(ratelimit.NewMemoryStore(nil), nil)

	guard, err := ssrf.New(&ssrf.Options{Allow: splitList(cfg.SSRFAllow)})
	if err != nil {
		return nil, usageErr("--ssrf-allow: %v", err)
	}
	builtins, err := loadBuiltins(cfg, guard)
	if err != nil {
		return nil, err
	}
	if err := checkShadowing(context.Background(), db, builtins); err != nil {
		return nil, err
	}
	reg, err := registry.New(builtins, db, &registry.Options{TTL: cfg.ConfigCacheTTL,
		Headers: func(ctx context.Context, c *patchbay.Connector) (map[string]patchbay.Secret, error) {
			return connectorHeaders(ctx, db, v, c)
		}})
	if err != nil {
		return nil, err
	}
	upstreamClient := upstream.New(guard.Client(cfg.UpstreamTimeout), &upstream.Options{Timeout: cfg.UpstreamTimeout, Version: version,
		CheckURL: guard.CheckURL})
	a.closers = append(a.closers, func() { _ = upstreamClient.Close() })
	runtime := connector.New(guard.Client(cfg.UpstreamTimeout), &connector.Options{Timeout: cfg.UpstreamTimeout,
		MaxConcurrency: cfg.MaxUpstreamConcurrency, Version: version, MCP: upstreamClient, CheckURL: guard.CheckURL})
	var cache connector.Cache
	if cfg.CacheMaxBytes > 0 && cfg.CacheTTL > 0 {
		cache = connector.NewMemoryCache(cfg.CacheMaxBytes, nil)
	}
	instanceApps := map[string]oauth.InstanceApp{}
	if cfg.OAuthAppsFile != "" {
		if instanceApps, err = oauth.LoadInstanceApps(cfg.OAuthAppsFile); err != nil {
			return nil, usageErr("--oauth-apps-file: %v", err)
		}
	}
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_oauth_refresh_total",
		Help: "OAuth token refreshes by outcome."}, []string{"outcome"})
	promReg.MustRegister(refreshes)
	var gw *gateway.Handler // the manager's hook reaches it once it exists
	manager := oauth.New(db, v, reg, &oauth.Options{
		PublicURL:    cfg.PublicURL,
		HTTPClient:   guard.Client(cfg.UpstreamTimeout),
		InstanceApps: instanceApps,
		Logger:       log,
		OnCredentialChanged: func(ctx context.Context, c *patchbay.Credential) {
			if gw != nil {
				gw.CredentialChanged(c)
			}
			if cache != nil {
				_ = cache.DeleteGroup(ctx, connector.CredentialGroup(c.AccountID, c.UserID, c.ID, c.ConnectorID))
			}
		},
		OnRefresh: func(outcome string) { refreshes.WithLabelValues(outcome).Inc() },
	})
	creds := &credentialManager{Manager: manager, apps: db, instance: instanceApps}

	gwMetrics, err := gateway.NewMetrics(promReg)
	if err != nil {
		return nil, err
	}
	gw = gateway.New(db, auth, reg, limiter, runtime, cache, creds, &gateway.Options{
		PublicURL:     cfg.PublicURL,
		Version:       version,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		RateLimit:     cfg.RateLimit,
		ConfigTTL:     cfg.ConfigCacheTTL,
		CacheTTL:      cfg.CacheTTL,
		Logger:        log,
		Metrics:       gwMetrics,
		OnRateLimited: func() { rateLimited.WithLabelValues("mcp").Inc() },
	})
	a.closers = append(a.closers, gw.Close)

	api := httpapi.New(db, v, auth, limiter, &httpapi.Options{
		PublicURL:     cfg.PublicURL,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MgmtRateLimit: cfg.MgmtRateLimit,
		Logger:        log,
		OnRateLimited: func() { rateLimited.WithLabelValues("api").Inc() },
		Changed: func(_ context.Context, kind, id string) {
			switch kind {
			case "server":
				gw.Invalidate(id)
			case "key":
				gw.KeysChanged() // who holds a key decides unverified identities (§6.5 a)
			}
		},
		Catalog: httpapi.Catalog{
			Registry:  reg,
			ListTools: upstreamClient.ListTools,
			CheckURL:  guard.CheckURL,
			AllowHTTP: allowHTTP(guard),
			Purge: func(ctx context.Context, accountID, connectorID string) {
				if cache != nil {
					_ = cache.DeleteGroup(ctx, connector.ConnectorGroup(accountID, connectorID))
				}
			},
			Changed: func(_ context.Context, accountID string) { reg.Invalidate(accountID) },
		},
		Credentials: creds,
	})

	metricsHandler := promhttp.HandlerFor(promReg, promhttp.HandlerOpts{})
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
	mux.Handle("/mcp", gw)
	mux.Handle("/mcp/", gw)
	mux.Handle("/oauth/", manager.Handler())
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
		Registry:       promReg,
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

// credentialManager adds to the OAuth manager what the faces ask of it
// beyond flows and credentials: whether an OAuth app is configured.
type credentialManager struct {
	*oauth.Manager
	apps interface {
		FindOAuthApp(ctx context.Context, accountID, connectorID string) (*patchbay.OAuthApp, error)
	}
	instance map[string]oauth.InstanceApp
}

// Configured reports whether the account or the instance has an OAuth app
// for the connector (§7.7 configured, §13.1 resolution).
func (m *credentialManager) Configured(ctx context.Context, accountID, connectorID string) bool {
	if _, err := m.apps.FindOAuthApp(ctx, accountID, connectorID); err == nil {
		return true
	}
	_, ok := m.instance[connectorID]
	return ok
}

// AppChanged is a no-op: the manager reads OAuth apps from the store on
// every flow, so there is nothing to drop.
func (m *credentialManager) AppChanged(context.Context, string, string) {}

// connectorHeaders opens the sealed static headers of a custom mcp
// connector (§11.6, §14 record connector:<id>), which the upstream client
// sends on every call.
func connectorHeaders(ctx context.Context, db *sqlite.DB, v *vault.Vault, c *patchbay.Connector) (map[string]patchbay.Secret, error) {
	_, sealed, err := db.FindConnector(ctx, c.AccountID, c.ID)
	if err != nil || len(sealed) == 0 {
		return nil, err
	}
	plain, err := v.Open(ctx, c.AccountID, "connector:"+c.ID, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, err
	}
	out := make(map[string]patchbay.Secret, len(m))
	for k, val := range m {
		out[k] = patchbay.NewSecret(val)
	}
	return out, nil
}
