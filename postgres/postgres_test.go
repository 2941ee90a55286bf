package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/authn/authntest"
	"github.com/patchbay-mcp/patchbay/internal/testenv"
	"github.com/patchbay-mcp/patchbay/postgres"
	"github.com/patchbay-mcp/patchbay/storetest"
	"github.com/patchbay-mcp/patchbay/vault"
	"github.com/patchbay-mcp/patchbay/vault/vaulttest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t testing.TB, dsn string, opts *postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t, testenv.Postgres(t), nil) })
}

func TestKeyStore(t *testing.T) {
	vaulttest.TestKeyStore(t, func(t *testing.T) vault.KeyStore { return open(t, testenv.Postgres(t), nil) })
}

func TestNonceStore(t *testing.T) {
	authntest.TestNonceStore(t, open(t, testenv.Postgres(t), nil))
}

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

func TestNonceExpiry(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	clk := &clock{now: t0}
	db := open(t, dsn, &postgres.Options{Now: clk.Now})
	const ttl = authn.NonceTTL
	// Rows run in order on one clock: each sees the previous ones' records.
	tests := []struct {
		name  string
		at    time.Duration // after t0
		key   string
		want  bool
		prune bool // PruneNonces before the use
	}{
		{name: "First", at: 0, key: "key_a", want: true},
		{name: "JustBeforeExpiry", at: ttl - time.Millisecond, key: "key_a", want: false},
		{name: "AtExpiryFreshAgain", at: ttl, key: "key_a", want: true},
		{name: "RenewedRecordLives", at: ttl + time.Second, key: "key_a", want: false},
		{name: "OtherKey", at: ttl + time.Second, key: "key_b", want: true},
		{name: "AfterPruneStillUsed", at: ttl + 2*time.Second, key: "key_b", want: false, prune: true},
		{name: "AfterPruneExpiredFresh", at: 3 * ttl, key: "key_a", want: true, prune: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(tt.at))
			if tt.prune {
				if err := db.PruneNonces(ctx); err != nil {
					t.Fatal(err)
				}
			}
			fresh, err := db.UseNonce(ctx, tt.key, "n7Qx2LpZr8Vw4Ks1", ttl)
			if err != nil || fresh != tt.want {
				t.Fatalf("UseNonce at t0+%v = %v, %v; want %v", tt.at, fresh, err, tt.want)
			}
		})
	}
	// At 3*ttl key_b (used at ttl+1s) had expired; the last prune removed it,
	// and key_a's record is the one just written.
	if n := countRows(t, dsn, "nonces"); n != 1 {
		t.Fatalf("%d nonce records after pruning, want 1", n)
	}
	if _, err := db.UseNonce(ctx, "key_c", "n", 0); err == nil {
		t.Fatal("UseNonce with ttl 0 succeeded")
	}
}

func countRows(t *testing.T, dsn, table string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoInstances runs two stores (two pools, as two Patchbay instances
// would) on one database: each sees the other's committed writes at once,
// and single-use operations succeed exactly once across both.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	storetest.CreateAccount(t, a, "acme")

	t.Run("WritesAreVisible", func(t *testing.T) {
		steps := []struct {
			name  string
			write func(s *postgres.DB) error
			check func(s *postgres.DB) error
		}{
			{name: "Account",
				write: func(s *postgres.DB) error {
					_, err := s.UpdateAccount(ctx, "acme", func(a *patchbay.Account) (bool, error) { a.Name = "Renamed"; return true, nil })
					return err
				},
				check: func(s *postgres.DB) error {
					got, err := s.FindAccount(ctx, "acme")
					if err == nil && (got.Name != "Renamed" || got.Version != 2) {
						err = fmt.Errorf("account %q version %d", got.Name, got.Version)
					}
					return err
				}},
			{name: "CreateServer",
				write: func(s *postgres.DB) error {
					return s.CreateServer(ctx, storetest.NewServer("bot-00000001", "acme", "u1", "Bot", t0))
				},
				check: func(s *postgres.DB) error {
					v, err := s.ServerVersion(ctx, "bot-00000001")
					if err == nil && v != 1 {
						err = fmt.Errorf("version %d", v)
					}
					return err
				}},
			{name: "UpdateServer",
				write: func(s *postgres.DB) error {
					_, err := s.UpdateServer(ctx, "acme", "bot-00000001", func(srv *patchbay.Server) (bool, error) {
						srv.Description = "new"
						return true, nil
					})
					return err
				},
				check: func(s *postgres.DB) error {
					got, err := s.FindServer(ctx, "bot-00000001")
					if err == nil && (got.Version != 2 || got.Description != "new") {
						err = fmt.Errorf("server version %d description %q", got.Version, got.Description)
					}
					return err
				}},
			{name: "DeleteServer",
				write: func(s *postgres.DB) error { return s.DeleteServer(ctx, "acme", "bot-00000001") },
				check: func(s *postgres.DB) error {
					_, err := s.ServerVersion(ctx, "bot-00000001")
					if patchbay.IsCode(err, patchbay.ENotFound) {
						return nil
					}
					return fmt.Errorf("deleted server: %w", err)
				}},
			{name: "ConnectorVersion",
				write: func(s *postgres.DB) error { return s.CreateConnector(ctx, storetest.NewConnector("acme", "crm"), nil) },
				check: func(s *postgres.DB) error {
					v, err := s.ConnectorsVersion(ctx, "acme")
					if err == nil && v != 1 {
						err = fmt.Errorf("connectors version %d", v)
					}
					return err
				}},
		}
		for i, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				w, r := a, b // alternate which instance writes
				if i%2 == 1 {
					w, r = b, a
				}
				must(t, st.write(w))
				must(t, st.check(r))
			})
		}
	})

	// race runs fn 50 times at once, alternating between the instances, and
	// returns how many calls succeeded; every failure must be a loss.
	race := func(t *testing.T, lost func(error) bool, fn func(i int, s *postgres.DB) error) int {
		t.Helper()
		const n = 50
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				err := fn(i, s)
				switch {
				case err == nil:
					wins.Add(1)
				case !lost(err):
					t.Errorf("call %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		return int(wins.Load())
	}
	codes := func(codes ...string) func(error) bool {
		return func(err error) bool { return slices.Contains(codes, patchbay.ErrorCode(err)) }
	}
	conflict := codes(patchbay.EConflict)
	errReused := errors.New("reused") // a nonce seen before: the expected loss

	tests := []struct {
		name  string
		setup func(t *testing.T)
		lost  func(error) bool
		wins  int // successful calls expected; 0 means 1
		call  func(i int, s *postgres.DB) error
		check func(t *testing.T)
	}{
		{name: "ConsumeFlow", lost: conflict,
			setup: func(t *testing.T) { must(t, a.CreateFlow(ctx, newFlow("flow_race_1"))) },
			call: func(i int, s *postgres.DB) error {
				_, err := s.ConsumeFlow(ctx, "flow_race_1", fmt.Appendf(nil, "state-%d", i), t0.Add(time.Minute))
				return err
			},
			check: func(t *testing.T) {
				f, err := b.FindFlow(ctx, "flow_race_1")
				must(t, err)
				if f.ConsumedAt == nil || len(f.StateHash) == 0 {
					t.Fatalf("flow after the race: %+v", f)
				}
			}},
		{name: "CompleteFlow", lost: conflict,
			setup: func(t *testing.T) {
				must(t, a.CreateFlow(ctx, newFlow("flow_race_2")))
				_, err := a.ConsumeFlow(ctx, "flow_race_2", []byte("state-race-2"), t0.Add(time.Minute))
				must(t, err)
			},
			call: func(i int, s *postgres.DB) error {
				_, err := s.CompleteFlow(ctx, []byte("state-race-2"), t0.Add(2*time.Minute))
				return err
			}},
		{name: "UseNonce", lost: func(err error) bool { return errors.Is(err, errReused) },
			call: func(i int, s *postgres.DB) error {
				fresh, err := s.UseNonce(ctx, "key_race", "nonce-race", time.Minute)
				if err == nil && !fresh {
					return errReused
				}
				return err
			}},
		{name: "CredentialCompareAndSwap", lost: conflict,
			setup: func(t *testing.T) {
				must(t, a.CreateCredential(ctx, storetest.NewCredential("cred_race_00000000000001", "acme", "u1", "slack", t0)))
			},
			call: func(i int, s *postgres.DB) error {
				c, err := s.FindCredential(ctx, "acme", "u1", "cred_race_00000000000001")
				if err != nil {
					return err
				}
				c.Revision = 1 // everyone read revision 1
				c.Sealed = fmt.Appendf(nil, "sealed-%d", i)
				return s.UpdateCredentialSecret(ctx, c)
			},
			check: func(t *testing.T) {
				c, err := a.FindCredential(ctx, "acme", "u1", "cred_race_00000000000001")
				must(t, err)
				if c.Revision != 2 {
					t.Fatalf("revision %d after one successful swap, want 2", c.Revision)
				}
			}},
		{name: "ServerName", lost: conflict,
			call: func(i int, s *postgres.DB) error {
				return s.CreateServer(ctx, storetest.NewServer(fmt.Sprintf("race-%08d", i), "acme", "u1", "Same name", t0))
			}},
		{name: "ServerID", lost: conflict,
			call: func(i int, s *postgres.DB) error {
				return s.CreateServer(ctx, storetest.NewServer("race-id-0001", "acme", "u1", fmt.Sprint("Name ", i), t0))
			}},
		{name: "DataKeyVersion", lost: func(err error) bool { return errors.Is(err, vault.ErrKeyExists) },
			call: func(i int, s *postgres.DB) error {
				return s.InsertDataKey(ctx, vault.WrappedKey{AccountID: "acme", Version: 1, Wrapped: []byte{byte(i)},
					MasterFingerprint: "0badf00d", Status: vault.StatusActive, CreatedAt: t0})
			}},
		// Ten accounts with two admin keys each, five deleters per account:
		// of each account's keys exactly one may go.
		{name: "LastAdminKey", lost: codes(patchbay.EConflict, patchbay.ENotFound), wins: 10,
			setup: func(t *testing.T) {
				for n := range 10 {
					account := fmt.Sprint("admins-", n)
					storetest.CreateAccount(t, a, account)
					for k := range 2 {
						id := fmt.Sprintf("key_admin_%d_%d", n, k)
						must(t, a.CreateAPIKey(ctx, &patchbay.APIKey{ID: id, AccountID: account, UserID: "admin", Name: id,
							Role: patchbay.RoleAdmin, Prefix: "pb_" + id[:4], Hash: hash(id), CreatedAt: t0}))
					}
				}
			},
			call: func(i int, s *postgres.DB) error {
				n, k := i%10, i/10%2
				_, err := s.DeleteAPIKey(ctx, fmt.Sprint("admins-", n), fmt.Sprintf("key_admin_%d_%d", n, k), t0)
				return err
			},
			check: func(t *testing.T) {
				for n := range 10 {
					keys, err := b.ListAPIKeys(ctx, fmt.Sprint("admins-", n))
					must(t, err)
					if len(keys) != 1 {
						t.Fatalf("account %d: %d admin keys left, want 1", n, len(keys))
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			want := max(tt.wins, 1)
			if wins := race(t, tt.lost, tt.call); wins != want {
				t.Fatalf("%d of 50 concurrent calls succeeded, want exactly %d", wins, want)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func newFlow(id string) *patchbay.Flow {
	return &patchbay.Flow{ID: id, Kind: patchbay.FlowOAuth, AccountID: "acme", UserID: "u1", ConnectorID: "github",
		ConnectorSource: patchbay.SourceBuiltin, AuthType: patchbay.AuthOAuth2, Name: "GitHub", RedirectURI: "https://app.example.com/cb",
		VerifierSealed: []byte("v"), CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
}

// TestUnavailable cuts the store off from its database (through a proxy)
// and checks that every kind of call reports UNAVAILABLE (503), while
// domain errors keep their codes.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	proxy, dsn := newProxy(t, testenv.Postgres(t))
	db := open(t, dsn, nil)
	if _, err := db.FindServer(ctx, "nope"); patchbay.ErrorCode(err) != patchbay.ENotFound {
		t.Fatalf("FindServer(nope) = %v, want %s", err, patchbay.ENotFound)
	}
	proxy.Close()
	tests := []struct {
		name string
		call func() error
	}{
		{name: "Open", call: func() error {
			db, err := postgres.Open(ctx, dsn, nil)
			if err == nil {
				db.Close()
			}
			return err
		}},
		{name: "Ping", call: func() error { return db.Ping(ctx) }},
		{name: "FindServer", call: func() error { _, err := db.FindServer(ctx, "nope"); return err }},
		{name: "Transaction", call: func() error {
			_, err := db.UpdateAccount(ctx, "acme", func(*patchbay.Account) (bool, error) { return true, nil })
			return err
		}},
		{name: "UseNonce", call: func() error { _, err := db.UseNonce(ctx, "key_1", "n", time.Minute); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); patchbay.ErrorCode(err) != patchbay.EUnavailable {
				t.Fatalf("with the database gone: %v (code %q), want %s", err, patchbay.ErrorCode(err), patchbay.EUnavailable)
			}
		})
	}
}

// proxy forwards loopback TCP connections to a database until closed.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// newProxy starts a proxy to the server of dsn and returns it with dsn
// pointed at it.
func newProxy(t *testing.T, dsn string) (*proxy, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.Close)
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password), Host: ln.Addr().String(), Path: "/" + cfg.Database,
		RawQuery: "sslmode=disable"}
	if cfg.TLSConfig != nil {
		u.RawQuery = "sslmode=require"
	}
	return p, u.String()
}

// Close stops accepting and breaks every forwarded connection.
func (p *proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestOpenTwiceConcurrently starts two instances on an empty database at
// once: the migration lock makes one migrate and the other wait.
func TestOpenTwiceConcurrently(t *testing.T) {
	dsn := testenv.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), dsn, nil)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]error{nil, nil}, errs, cmpopts.EquateErrors()); diff != "" {
		t.Fatalf("concurrent Open (-want +got):\n%s", diff)
	}
}
