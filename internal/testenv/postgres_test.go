package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{name: "URL", dsn: "postgres://u:p%40ss@db.example:5433/app?sslmode=require",
			want: "postgres://u:p%40ss@db.example:5433/test_x?sslmode=require"},
		{name: "URLWithoutDatabase", dsn: "postgresql://u@localhost", want: "postgresql://u@localhost/test_x"},
		{name: "KeywordValue", dsn: "host=localhost user=u dbname=app", want: "host=localhost user=u dbname=app dbname=test_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.dsn, "test_x")
			if err != nil || got != tt.want {
				t.Fatalf("withDatabase(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
		})
	}
}

func TestMajorVersion(t *testing.T) {
	tests := []struct {
		name, path string
		want       int
	}{
		{name: "Debian", path: "/usr/lib/postgresql/15/bin", want: 15},
		{name: "PGDG", path: "/usr/pgsql-16/bin", want: 16},
		{name: "Homebrew", path: "/opt/homebrew/opt/postgresql@17/bin", want: 17},
		{name: "None", path: "/usr/local/pgsql/bin", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := majorVersion(tt.path); got != tt.want {
				t.Fatalf("majorVersion(%q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}

// TestPostgres checks that each call gets its own empty database, and that
// a database is gone once its test has ended.
func TestPostgres(t *testing.T) {
	ctx := context.Background()
	query := func(t *testing.T, dsn, sql string, args ...any) int {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var first string
	t.Run("First", func(t *testing.T) {
		first = Postgres(t)
		if n := query(t, first, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
			t.Fatalf("new database has %d tables", n)
		}
		conn, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (id int)`); err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: dropping must not wait for it.
		t.Cleanup(func() { conn.Close(ctx) })
	})
	second := Postgres(t)
	if second == first {
		t.Fatalf("two calls returned the same database %q", first)
	}
	if n := query(t, second, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
		t.Fatalf("second database has %d tables", n)
	}
	firstName, err := pgx.ParseConfig(first)
	if err != nil {
		t.Fatal(err)
	}
	if n := query(t, second, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, firstName.Database); n != 0 {
		t.Fatalf("database %s still exists after its test ended", firstName.Database)
	}
}

// TestPostgresServer checks that a stopped server refuses connections and
// that a restarted one serves the same data on the same URL.
func TestPostgresServer(t *testing.T) {
	ctx := context.Background()
	p := PostgresServer(t)
	exec := func(sql string) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, p.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(cctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("a stopped server accepted a query")
	}
	p.Stop() // stopping twice is harmless
	p.Start()
	p.Start() // starting a running server is harmless
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	defer conn.Close(ctx)
	var id int
	if err := conn.QueryRow(ctx, `SELECT id FROM kept`).Scan(&id); err != nil || id != 42 {
		t.Fatalf("data after a restart: %d, %v", id, err)
	}
}
