package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func serveCmd(e *env) *cobra.Command {
	cfg := DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (management API under /api, MCP under /mcp)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), e.getenv); err != nil {
				return usageErr("%v", err)
			}
			if err := cfg.Validate(); err != nil {
				return usageErr("%v", err)
			}
			return runServe(cmd.Context(), e, cfg)
		},
	}
	serveFlags(cmd.Flags(), &cfg)
	return cmd
}

func runServe(ctx context.Context, e *env, cfg Config) error {
	log := newLogger(e.stderr, cfg.LogLevel)
	say := func(s string) { e.stderrf("%s\n", s) }
	db, err := openStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Warn("closing the database failed", "error", err.Error())
		}
	}()
	v, err := openVault(ctx, &cfg, db, e.getenv, func(w string) { log.Warn(w) })
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, db, v, e.getenv, say); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.publicFromAddr {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	a, err := wire(ctx, cfg, log, db, v)
	if err != nil {
		_ = ln.Close() // it never served; wire's error is the one to report
		return err
	}
	defer a.close()
	srv := newHTTPServer(a.handler)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var msrv *http.Server
	if a.metrics != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics)
		msrv = newHTTPServer(mux)
		go func() { errc <- msrv.Serve(mln) }()
	}
	go a.maintain(ctx)
	say(fmt.Sprintf("patchbay: listening on http://%s (public URL %s); management API at %s/api, MCP at %s/mcp",
		ln.Addr(), cfg.PublicURL, cfg.PublicURL, cfg.PublicURL))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// §17.5: not ready at once, keep serving for the drain period, then stop
	// accepting and give in-flight requests up to 20 s.
	a.ops.Drain()
	log.Info("shutting down", "drain", cfg.ShutdownDrain.String())
	select {
	case <-time.After(cfg.ShutdownDrain):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// maintain prunes old audit events and used nonces until ctx ends.
func (a *app) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.db.PruneAudit(ctx, time.Now().Add(-a.cfg.AuditRetention)); err != nil {
			a.log.Warn("audit pruning failed", "error", err.Error())
		} else if n > 0 {
			a.log.Info("pruned audit events", "count", n)
		}
		if _, err := a.db.PruneFlows(ctx, time.Now().Add(-24*time.Hour)); err != nil {
			a.log.Warn("flow pruning failed", "error", err.Error())
		}
		if err := a.db.PruneNonces(ctx); err != nil {
			a.log.Warn("nonce pruning failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
