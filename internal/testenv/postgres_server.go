package testenv

import (
	"fmt"
	"os"
	"testing"
)

// PostgresProc is a PostgreSQL server of one test's own, for tests that
// take the database away and bring it back (Stop, Start). Unlike the shared
// server its data survives a Stop: Start runs the same data directory on
// the same port, as after a crash and restart.
type PostgresProc struct {
	t   testing.TB
	srv *pgServer
	url string
}

// PostgresServer starts a PostgreSQL server of t's own with one empty
// database, stopped and removed when t ends. It always starts a local
// server, also when PATCHBAY_TEST_POSTGRES_DSN is set, and skips t (fails
// it with PATCHBAY_CI=1) when no server binaries are found or the server
// does not start. Starting a cluster takes a second or two (initdb), so
// tests that only need a database should use Postgres.
func PostgresServer(t testing.TB) *PostgresProc {
	t.Helper()
	srv, err := startPostgres(true)
	if err != nil {
		msg := fmt.Sprintf("testenv: no PostgreSQL server for this test: %v (install the PostgreSQL server binaries)", err)
		if os.Getenv(CIEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	p := &PostgresProc{t: t, srv: srv}
	pgState.mu.Lock()
	if pgState.private == nil {
		pgState.private = map[*PostgresProc]struct{}{}
	}
	pgState.private[p] = struct{}{}
	pgState.mu.Unlock()
	t.Cleanup(p.close)
	if p.url, err = createDatabase(srv.dsn, srv.createOptions); err != nil {
		t.Fatalf("testenv: create database: %v; server log:\n%s", err, srv.log.String())
	}
	return p
}

// URL returns the postgres:// URL of the server's test database.
func (p *PostgresProc) URL() string { return p.url }

// Stop shuts the server down at once (clients see their connections end,
// new connections are refused) and waits until it is gone. Stopping a
// stopped server does nothing.
func (p *PostgresProc) Stop() {
	p.t.Helper()
	p.srv.stop()
}

// Start starts the stopped server again on the same port and data, and
// waits until it accepts connections. Starting a running server does
// nothing.
func (p *PostgresProc) Start() {
	p.t.Helper()
	p.srv.mu.Lock()
	running := p.srv.cmd != nil
	p.srv.mu.Unlock()
	if running {
		return
	}
	if err := p.srv.spawn(p.srv.port); err != nil {
		p.t.Fatalf("testenv: restart postgres on port %d: %v; server log:\n%s", p.srv.port, err, p.srv.log.String())
	}
}

// close stops the server for good and removes its directory.
func (p *PostgresProc) close() {
	pgState.mu.Lock()
	_, live := pgState.private[p]
	delete(pgState.private, p)
	pgState.mu.Unlock()
	if !live {
		return
	}
	p.srv.stop()
	_ = os.RemoveAll(p.srv.dir)
}
