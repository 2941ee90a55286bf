package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresDSNEnv names an existing PostgreSQL server to use instead of
// starting one. Postgres(t) then creates a database per call on it, so the
// DSN's role needs CREATEDB; the DSN's own database is only used to connect.
const PostgresDSNEnv = "PATCHBAY_TEST_POSTGRES_DSN"

// postgresReadyTimeout bounds how long a started server may take to accept
// connections.
const postgresReadyTimeout = 30 * time.Second

// pgState is the process-wide state of the Postgres helper: one server per
// test process, started on first use and stopped by Main.
var pgState struct {
	once sync.Once
	srv  *pgServer
	err  error

	mu      sync.Mutex
	private map[*PostgresProc]struct{} // servers of PostgresServer, until their test ends
}

// Main runs the tests of a package and then stops every server testenv
// started for them (PostgreSQL and Redis). A package that uses testenv
// calls it from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without it the servers still die with the test process on Linux (a
// parent-death signal), but their temporary directories stay behind until
// the next run removes them.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with cleanup of its own: it runs the tests,
// stops every server testenv started and returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	stopPostgres()
	StopAll()
	return code
}

// Postgres returns the URL of a new, empty database on a real PostgreSQL
// server; the database is dropped when t ends. With PATCHBAY_TEST_POSTGRES_DSN
// set, the database is created on that server. Otherwise the first call
// starts a private server for the test process from the PostgreSQL server
// binaries on this machine (PATH, then /usr/lib/postgresql/*/bin and other
// usual places), on a free loopback port with durability turned off for
// speed; as root it runs the server as the "postgres" OS user, since
// PostgreSQL refuses to run as root.
//
// When no server can be found or started it skips t, or fails it when
// PATCHBAY_CI=1.
func Postgres(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(PostgresDSNEnv); dsn != "" {
		url, err := createDatabase(dsn, "")
		if err != nil {
			t.Fatalf("testenv: %s: %v", PostgresDSNEnv, err)
		}
		t.Cleanup(func() { dropDatabase(t, dsn, url) })
		return url
	}
	pgState.once.Do(func() { pgState.srv, pgState.err = startPostgres(false) })
	srv := pgState.srv
	if pgState.err != nil {
		msg := fmt.Sprintf("testenv: no PostgreSQL for this test: %v (install the PostgreSQL server binaries, or set %s)", pgState.err, PostgresDSNEnv)
		if os.Getenv(CIEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	url, err := createDatabase(srv.dsn, srv.createOptions)
	if err != nil {
		t.Fatalf("testenv: create database: %v; server log:\n%s", err, srv.log.String())
	}
	t.Cleanup(func() { dropDatabase(t, srv.dsn, url) })
	return url
}

// createDatabase creates a database named test_<random> on the server of
// adminDSN and returns adminDSN pointed at it.
func createDatabase(adminDSN, options string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(context.Background()) }() // best effort: the server ends the session with the socket
	name := "test_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+options); err != nil {
		return "", err
	}
	return withDatabase(adminDSN, name)
}

// dropDatabase drops the database of dsn, closing what is still connected
// to it (a pool the test forgot, or one that Cleanup closes later).
func dropDatabase(t testing.TB, adminDSN, dsn string) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Errorf("testenv: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Logf("testenv: drop database %s: %v", cfg.Database, err)
		return
	}
	defer func() { _ = conn.Close(context.Background()) }() // best effort: the server ends the session with the socket
	name := pgx.Identifier{cfg.Database}.Sanitize()
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42601" { // before PostgreSQL 13: no FORCE
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	}
	if err != nil {
		t.Logf("testenv: drop database %s: %v", cfg.Database, err)
	}
}

// withDatabase returns dsn (a URL or keyword/value string) naming database
// name instead of its own.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("cannot parse the DSN") // the error would quote the password
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// In keyword/value strings a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pgServer is a PostgreSQL server this process started.
type pgServer struct {
	dir           string // temporary directory: data/, postgres.log
	dsn           string // superuser, database "postgres"
	createOptions string // appended to CREATE DATABASE
	log           *tailBuffer
	// durable keeps synchronous_commit on: a commit has reached the WAL
	// (the kernel, not the disk) when it returns, so it survives a Stop.
	durable bool
	// What spawn needs to start the server again (PostgresProc.Start).
	bin   string
	port  int
	owner *osUser

	mu     sync.Mutex // guards cmd and exited (Stop and Start of a PostgresProc)
	cmd    *exec.Cmd
	exited chan struct{}
}

// startPostgres initializes a cluster in a temporary directory and starts a
// server on it, retrying on another port if the chosen one was taken.
func startPostgres(durable bool) (*pgServer, error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", "patchbay-pg-")
	if err != nil {
		return nil, err
	}
	// Lets the next run tell whether this directory is still in use.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return nil, err
		}
	}
	srv := &pgServer{dir: dir, log: &tailBuffer{max: 8192}, bin: bin, owner: owner, durable: durable}
	data := srv.dataDir()
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = procAttr(owner)
	initdb.Dir = dir // a working directory the postgres user may enter
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w: %s", initdb, err, strings.TrimSpace(string(out)))
	}
	for range 5 {
		port, err := freePort()
		if err != nil {
			break
		}
		if err = srv.spawn(port); err == nil {
			return srv, nil
		}
		_, _ = fmt.Fprintf(srv.log, "testenv: %v\n", err) // a tailBuffer does not fail
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("postgres did not start: %s", strings.TrimSpace(srv.log.String()))
}

func (s *pgServer) dataDir() string { return filepath.Join(s.dir, "data") }

// spawn starts the server on port and waits until it accepts connections.
func (s *pgServer) spawn(port int) error {
	s.port = port
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket directory to own
		// Throwaway data: no durability, and minimal WAL, which makes
		// CREATE DATABASE ... FILE_COPY (one per test) cheap.
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB",
	}
	if !s.durable {
		args = append(args, "-c", "synchronous_commit=off")
	}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal fires when the thread that started the
		// child exits, so this goroutine holds that thread until the server
		// has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.Dir = s.dir
		cmd.SysProcAttr = procAttr(s.owner)
		setParentDeathSignal(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		s.mu.Lock()
		s.cmd = cmd
		s.mu.Unlock()
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	s.mu.Lock()
	s.exited = exited
	s.mu.Unlock()
	s.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(postgresReadyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.dsn)
		if err == nil {
			var version string
			err = conn.QueryRow(ctx, "SHOW server_version_num").Scan(&version)
			_ = conn.Close(ctx) // only a probe; the query's error is what counts
			cancel()
			if err != nil {
				s.stop()
				return err
			}
			if n, _ := strconv.Atoi(version); n >= 150000 {
				s.createOptions = " STRATEGY = FILE_COPY"
			}
			return nil
		}
		cancel()
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd, s.exited = nil, nil
			s.mu.Unlock()
			return fmt.Errorf("postgres on port %d exited", port)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("postgres on port %d not ready after %v: %w", port, postgresReadyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down at once, as a crash would (immediate
// shutdown: clients see their connections end, and the next start
// recovers from the WAL), and waits for it to exit.
func (s *pgServer) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		_ = cmd.Process.Kill()
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// stopPostgres stops the shared server, if one was started, and removes
// its directory.
func stopPostgres() {
	// Running once here also keeps a late Postgres call from starting a
	// server after Main has stopped them.
	pgState.once.Do(func() { pgState.err = errors.New("testenv: Main has already stopped the servers") })
	if srv := pgState.srv; srv != nil {
		srv.stop()
		_ = os.RemoveAll(srv.dir)
	}
	pgState.mu.Lock()
	private := make([]*PostgresProc, 0, len(pgState.private))
	for p := range pgState.private {
		private = append(private, p)
	}
	pgState.mu.Unlock()
	for _, p := range private {
		p.close()
	}
}

// findPostgresBin returns the directory holding initdb and postgres.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	var candidates []string
	for _, pattern := range []string{
		"/usr/lib/postgresql/*/bin", // Debian, Ubuntu
		"/usr/pgsql-*/bin",          // RHEL, Fedora (PGDG)
		"/usr/local/pgsql/bin",      // source builds
		"/opt/homebrew/opt/postgresql@*/bin",
		"/usr/local/opt/postgresql@*/bin",
	} {
		m, _ := filepath.Glob(pattern)
		// Newest major version first.
		slices.SortFunc(m, func(a, b string) int { return majorVersion(b) - majorVersion(a) })
		candidates = append(candidates, m...)
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("initdb not found on PATH or in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /usr/local/pgsql/bin")
}

// majorVersion extracts the version number from a path like
// /usr/lib/postgresql/15/bin or /usr/pgsql-16/bin; 0 if there is none.
func majorVersion(path string) int {
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r < '0' || r > '9' }) {
		if n, err := strconv.Atoi(part); err == nil {
			return n
		}
	}
	return 0
}

// osUser is the account the server runs as when it cannot run as us.
type osUser struct{ uid, gid int }

// serverOwner returns nil when we may run PostgreSQL ourselves, and the
// "postgres" OS user when we are root (initdb and postgres refuse root).
func serverOwner() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no postgres OS user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres OS user has ids %q/%q", u.Uid, u.Gid)
	}
	return &osUser{uid: uid, gid: gid}, nil
}

// removeStaleDirs removes the directories of earlier test processes that
// died without Main (their servers died with them).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "patchbay-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}
