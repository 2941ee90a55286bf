package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/patchbay-mcp/patchbay"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the PostgreSQL store. It implements every service interface of the
// domain plus the vault's key and record stores and the nonce store. It is
// safe for concurrent use, and any number of DBs (in any number of
// processes) may share one database.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Options configures Open.
type Options struct {
	Now func() time.Time // nil: time.Now
	// MaxConns caps the connection pool; 0 keeps pgxpool's default (the
	// larger of 4 and the CPU count) or pool_max_conns from the URL.
	MaxConns int32
}

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so that an unreachable database turns into UNAVAILABLE
// quickly instead of hanging until the caller's deadline (§17.5).
const defaultConnectTimeout = 5 * time.Second

// Open connects to the database at dsn (a postgres:// URL or a libpq
// keyword/value string) and applies the migrations. Concurrent Opens of one
// database (several instances starting together) are serialized by an
// advisory lock, so each migration runs once.
func Open(ctx context.Context, dsn string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "patchbay"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &DB{pool: pool, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies every pending migration.
func (s *DB) Migrate(ctx context.Context) error { return migrate(ctx, s.pool, 0) }

// migrate applies the migrations up to version (0: all). goose needs a
// *sql.DB, so it gets one on top of the pool, used for nothing else.
func migrate(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Poll the advisory lock every second for up to five minutes: another
	// instance may be migrating the same database right now.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close() // leaves the pool open
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if version == 0 {
		_, err = p.Up(ctx)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return storeErr(fmt.Errorf("apply migrations: %w", err))
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers (readiness).
func (s *DB) Ping(ctx context.Context) error { return storeErr(s.pool.Ping(ctx)) }

// HasEncryptedData reports whether any wrapped data key exists, which means
// sealed records may exist and the master key must be present (§14).
func (s *DB) HasEncryptedData(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM data_keys)`).Scan(&ok)
	return ok, storeErr(err)
}

// IsEmpty reports whether no account exists yet (bootstrap, §18.2).
func (s *DB) IsEmpty(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts)`).Scan(&ok)
	return !ok, storeErr(err)
}

// tx runs fn in a read-committed transaction and commits it. A deadlock or
// serialization failure rolls back and runs fn again (fn must re-read what
// it changes, which every caller does); other errors are returned through
// storeErr.
func (s *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if attempt < 4 && isRetryable(err) {
			continue
		}
		return storeErr(err)
	}
}

// PostgreSQL error codes the store reacts to.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeCharacterNotInRepert = "22021" // invalid UTF-8 or NUL in text
	codeUntranslatableChar   = "22P05" // \u0000 in JSONB
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// uniqueConstraint returns the constraint a unique violation hit, and
// whether err is one.
func uniqueConstraint(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUniqueViolation {
		return pe.ConstraintName, true
	}
	return "", false
}

func isUnique(err error) bool {
	_, ok := uniqueConstraint(err)
	return ok
}

func isRetryable(err error) bool {
	var re *retryError
	c := pgCode(err)
	return c == codeSerializationFailure || c == codeDeadlockDetected || errors.As(err, &re)
}

// retryError makes tx run its function again, as after a serialization
// failure: a row it relied on changed between two statements.
type retryError struct{}

func (*retryError) Error() string { return "postgres: concurrent change; retry" }

// storeErr is the one exit for errors: domain errors pass untouched;
// connection-level failures become UNAVAILABLE (503) wrapping the cause, so
// that callers need no knowledge of pgx; text the database cannot store
// becomes INVALID_REQUEST; anything else is wrapped as an internal error.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *patchbay.Error
	if errors.As(err, &pe) {
		return err
	}
	if isUnavailable(err) {
		return patchbay.Errorf(patchbay.EUnavailable, "Service unavailable").Wrap(err)
	}
	switch pgCode(err) {
	case codeCharacterNotInRepert, codeUntranslatableChar:
		return patchbay.Errorf(patchbay.EInvalid, "text contains characters that cannot be stored").Wrap(err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// isUnavailable reports failures of the database rather than of the query:
// no connection, a broken one, a server shutting down or refusing
// connections, or a read-only standby after a failover. A cancelled or
// expired caller context is the caller's doing and stays as it is.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true // including timeouts of the connect_timeout, not the caller's
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections, ...)
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, starting up
			pe.Code == "25006": // read-only transaction: a standby after a failover
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err)
}

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(v int64) time.Time { return time.Unix(v, 0).UTC() }

func nullUnix(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.Unix()
	return &v
}

func fromNullUnix(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromUnix(*v)
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromNullString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// notNullBytes keeps NOT NULL BYTEA columns satisfied: pgx sends a nil slice
// as NULL, where SQLite would store an empty blob.
func notNullBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBytes stores an empty slice as NULL (optional BYTEA columns).
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// sqlLimit is a LIMIT argument: a negative limit means none (NULL), as
// in SQLite, where PostgreSQL would reject it.
func sqlLimit(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

// rowScanner is pgx.Row and pgx.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// querier is the pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = (pgx.Tx)(nil)
)

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
