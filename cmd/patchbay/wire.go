package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/patchbay-mcp/patchbay/redis"
	"github.com/patchbay-mcp/patchbay/registry"
	"github.com/patchbay-mcp/patchbay/ssrf"
	"github.com/patchbay-mcp/patchbay/upstream"
	"github.com/patchbay-mcp/patchbay/vault"
)

// app is the assembled program: wire is the only place that constructs
// the parts and connects them.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      store
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

// wire assembles the server from an open store and vault. ctx bounds the
// background work it starts (change-notice subscription).
func wire(ctx context.Context, cfg Config, log *slog.Logger, db store, v *vault.Vault) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, vault: v}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
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

	// Shared state: with --redis-url, rate windows, nonces, the read cache,
	// refresh locks and change notices live in Redis; otherwise in this
	// process (nonces in the database, so a restart does not reopen them).
	var rc *redis.Client
	rateStore := ratelimit.Store(ratelimit.NewMemoryStore(nil))
	nonces := authn.NonceStore(db)
	var locker oauth.Locker
	if cfg.RedisURL != "" {
		if rc, err = redis.Open(ctx, cfg.RedisURL, &redis.Options{Logger: log}); err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		a.closers = append(a.closers, func() { _ = rc.Close() })
		rateStore, nonces, locker = redis.NewRateStore(rc), redis.NewNonceStore(rc), redis.NewLocker(rc)
	}

	auth := authn.New(db, v, nonces, &authn.Options{
		CacheTTL:  cfg.ConfigCacheTTL,
		PublicURL: cfg.PublicURL,
		Logger:    log,
		OnFailure: func(ctx context.Context, accountID, reason string) {
			auditAuthFailure(ctx, db, log, accountID, reason)
		},
	})
	limiter := ratelimit.New(rateStore, nil)

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
	switch {
	case cfg.CacheTTL <= 0:
	case rc != nil:
		cache = redis.NewCache(rc, v)
	case cfg.CacheMaxBytes > 0:
		cache = connector.NewMemoryCache(cfg.CacheMaxBytes, nil)
		if kind, _, _ := cfg.Database(); kind == "postgres" {
			log.Warn("the read cache is per instance without --redis-url: a write through one instance does not " +
				"invalidate cached reads on the others until --cache-ttl; set --redis-url when running several instances")
		}
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
	var gw *gateway.Handler // hooks reach it once it exists
	changes := &changeFeed{log: log, apply: func(ch redis.Change) {
		switch ch.Kind {
		case "server":
			gw.Invalidate(ch.ID)
		case "key":
			auth.InvalidateKey(ch.ID)
			gw.KeysChanged() // who holds a key decides unverified identities (§6.5 a)
		case "account":
			auth.InvalidateAccount(ch.ID)
			v.Invalidate(ch.ID)
		case "connectors":
			reg.Invalidate(ch.AccountID)
		case "credential":
			gw.CredentialChanged(&patchbay.Credential{AccountID: ch.AccountID, UserID: ch.ID})
		case redis.KindResync:
			// The subscription was re-established: notices sent while it
			// was down are lost, so forget everything they could have
			// changed instead of waiting for --config-cache-ttl.
			gw.InvalidateAll()
			auth.InvalidateAll()
			v.InvalidateAll()
			reg.InvalidateAll()
		}
	}}
	manager := oauth.New(db, v, reg, &oauth.Options{
		PublicURL:    cfg.PublicURL,
		HTTPClient:   guard.Client(cfg.UpstreamTimeout),
		InstanceApps: instanceApps,
		Locker:       locker,
		Logger:       log,
		OnCredentialChanged: func(ctx context.Context, c *patchbay.Credential) {
			if cache != nil {
				_ = cache.DeleteGroup(ctx, connector.CredentialGroup(c.AccountID, c.UserID, c.ID, c.ConnectorID))
			}
			changes.publish(ctx, redis.Change{Kind: "credential", AccountID: c.AccountID, ID: c.UserID})
		},
		OnRefresh: func(outcome string) { refreshes.WithLabelValues(outcome).Inc() },
	})
	creds := &credentialManager{Manager: manager, apps: db, instance: instanceApps,
		appChanged: func(ctx context.Context, accountID string) {
			// A new client ID or a deleted app revoked the account's
			// credentials in the store: no instance may keep using them.
			changes.publish(ctx, redis.Change{Kind: "credential", AccountID: accountID})
		}}

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
		Changed: func(ctx context.Context, kind, id string) {
			changes.publish(ctx, redis.Change{Kind: kind, ID: id})
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
			Changed: func(ctx context.Context, accountID string) {
				changes.publish(ctx, redis.Change{Kind: "connectors", AccountID: accountID})
			},
		},
		Credentials: creds,
	})

	metricsHandler := promhttp.HandlerFor(promReg, promhttp.HandlerOpts{})
	onMain := metricsHandler
	if cfg.MetricsAddr != "" {
		a.metrics, onMain = metricsHandler, nil
	}
	redisCheck := httpapi.Check{Name: "redis"}
	if rc != nil {
		redisCheck.Run = rc.Ping
		changes.notifier = redis.NewNotifier(rc, nil)
		// Other instances' changes arrive here; TTLs stay the safety net
		// for notices lost while Redis was away (§17.6).
		if err := changes.notifier.Subscribe(ctx, changes.apply); err != nil {
			return nil, fmt.Errorf("--redis-url: subscribe to change notices: %w", err)
		}
	}
	a.ops = httpapi.NewOps([]httpapi.Check{
		{Name: "database", Run: db.Ping},
		redisCheck,
		{Name: "encryption", Run: func(ctx context.Context) error {
			// An unreachable database is the database check's failure; the
			// encryption check fails only for a wrong or missing key.
			if err := v.Check(ctx); err != nil && !patchbay.IsCode(err, patchbay.EUnavailable) {
				return err
			}
			return nil
		}},
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
	ok = true
	return a, nil
}

// changeFeed applies a change to this instance's caches before the change's
// response is sent, and tells the other instances through Redis (§17.6).
// Without Redis the TTLs of the caches bound staleness.
type changeFeed struct {
	log      *slog.Logger
	apply    func(redis.Change)
	notifier *redis.Notifier
}

func (f *changeFeed) publish(ctx context.Context, ch redis.Change) {
	f.apply(ch)
	if f.notifier == nil {
		return
	}
	if err := f.notifier.Publish(context.WithoutCancel(ctx), ch); err != nil {
		f.log.Warn("change notice not published; other instances catch up within --config-cache-ttl",
			"kind", ch.Kind, "error", err.Error())
	}
}

// auditAuthFailure records auth.failed for a known account (§16).
func auditAuthFailure(ctx context.Context, db store, log *slog.Logger, accountID, reason string) {
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
	instance   map[string]oauth.InstanceApp
	appChanged func(ctx context.Context, accountID string)
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

// AppChanged drops cached credentials of the account: the manager reads
// OAuth apps from the store on every flow, but a changed app may have
// revoked credentials that callers hold in their caches.
func (m *credentialManager) AppChanged(ctx context.Context, accountID, _ string) {
	m.appChanged(ctx, accountID)
}

// connectorHeaders opens the sealed static headers of a custom mcp
// connector (§11.6, §14 record connector:<id>), which the upstream client
// sends on every call.
func connectorHeaders(ctx context.Context, db store, v *vault.Vault, c *patchbay.Connector) (map[string]patchbay.Secret, error) {
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
