package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/internal/testenv"
)

// Helpers of e2e_cluster_test.go: two real `patchbay serve` processes on
// one PostgreSQL database and one Redis, as a scaled-out deployment runs.

// cluster is two instances, A and B, sharing a database and a Redis.
type cluster struct {
	t      *testing.T
	pg     *testenv.PostgresProc // nil when the database is on the shared server
	redis  *testenv.RedisProc    // nil with noRedis
	dbURL  string
	env    []string
	master string
	A, B   *proc
	a, b   *testServer // management clients of A and B with the bootstrap admin key
}

// clusterOptions choose what a test may take away.
type clusterOptions struct {
	// ownPostgres gives the cluster a PostgreSQL server of its own that the
	// test may Stop and Start; otherwise it gets a database on the shared
	// server.
	ownPostgres bool
	// noRedis runs the instances without --redis-url: changes reach the
	// other instance only through --config-cache-ttl.
	noRedis bool
	// args are extra serve flags of both instances.
	args []string
}

// newCluster starts A, then B (A bootstraps the empty database), each with
// its own data directory and public URL, the same master key, and the
// default --rate-limit and --config-cache-ttl unless args say otherwise.
func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, master: masterKey(21)}
	if o.ownPostgres {
		c.pg = testenv.PostgresServer(t)
		c.dbURL = c.pg.URL()
	} else {
		c.dbURL = testenv.Postgres(t)
	}
	args := append([]string{"--database-url", c.dbURL, "--ssrf-allow", "127.0.0.1"}, o.args...)
	if !o.noRedis {
		// A Redis of the cluster's own: pub/sub channels are not per
		// logical database, and fault tests stop it.
		c.redis = testenv.RedisServer(t)
		args = append(args, "--redis-url", c.redis.URL())
	}
	c.env = []string{"PATCHBAY_MASTER_KEY=" + c.master, "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
	c.A = serve(t, c.env, serveArgs(t.TempDir(), args...)...)
	c.B = serve(t, c.env, serveArgs(t.TempDir(), args...)...)
	c.a, c.b = c.A.client(e2eAdminKey), c.B.client(e2eAdminKey)
	return c
}

// on rewrites a URL of either instance (an accessUrl, an oauthUrl) to
// instance p, as a load balancer would route it.
func (c *cluster) on(p *proc, u string) string {
	for _, q := range []*proc{c.A, c.B} {
		if strings.HasPrefix(u, q.URL+"/") {
			return p.URL + strings.TrimPrefix(u, q.URL)
		}
	}
	c.t.Fatalf("%s is not a URL of the cluster", redactToken(u))
	return ""
}

// open opens the cluster's database and vault in the test process, with
// the cluster's master key, for checks of what is stored; it returns the
// store and the vault's Open.
func (c *cluster) open(ctx context.Context) (store, func(string, string, []byte) ([]byte, error)) {
	c.t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = c.t.TempDir()
	cfg.DatabaseURL = c.dbURL
	if err := cfg.Validate(); err != nil {
		c.t.Fatal(err)
	}
	db, err := openStore(ctx, &cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	getenv := func(k string) string {
		if k == "PATCHBAY_MASTER_KEY" {
			return c.master
		}
		return ""
	}
	v, err := openVault(ctx, &cfg, db, getenv, func(string) {})
	if err != nil {
		c.t.Fatal(err)
	}
	return db, func(account, record string, sealed []byte) ([]byte, error) {
		return v.Open(ctx, account, record, sealed)
	}
}

// readyz returns the status code and body of GET /readyz.
func readyz(t *testing.T, p *proc) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(p.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return res.StatusCode, body
}

// wantReady fails unless /readyz of p answers status with these checks.
func wantReady(t *testing.T, p *proc, status int, checks map[string]string) {
	t.Helper()
	code, body := readyz(t, p)
	want := map[string]any{"status": "ready", "checks": map[string]any{}}
	if status != http.StatusOK {
		want["status"] = "not_ready"
	}
	for k, v := range checks {
		want["checks"].(map[string]any)[k] = v
	}
	if code != status || !jsonEqual(body, want) {
		t.Fatalf("/readyz of %s: %d %v, want %d %v", p.URL, code, body, status, want)
	}
}

// within polls ok every few milliseconds until it returns true or limit
// has passed since start, and returns how long after start it first
// returned true (or the time of giving up, with false).
func within(start time.Time, limit time.Duration, ok func() bool) (time.Duration, bool) {
	for {
		if ok() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// measure logs a propagation or recovery time ("measured: ..."), which
// docs/consistency.md quotes.
func measure(t *testing.T, what string, d time.Duration) {
	t.Helper()
	t.Logf("measured: %s: %v", what, d.Round(100*time.Microsecond))
}

// toolTry is callTool for goroutines: it returns the decoded result or an
// error instead of failing the test.
func toolTry(rawURL, tool string, args any, headers ...string) (*toolResult, error) {
	r, err := mcpTry(rawURL, rpcBody("tools/call", map[string]any{"name": tool, "arguments": args}), headers...)
	if err != nil {
		return nil, err
	}
	if r.DecodeErr != nil {
		return nil, r.DecodeErr
	}
	res := r.result()
	if r.Status != http.StatusOK || res == nil {
		return nil, fmt.Errorf("tools/call: %d %s", r.Status, r.Body)
	}
	tr := &toolResult{Raw: r}
	tr.IsError, _ = res["isError"].(bool)
	tr.Structured, _ = res["structuredContent"].(map[string]any)
	tr.Meta, _ = res["_meta"].(map[string]any)
	return tr, nil
}

// connectorIDs returns the IDs list_connectors_alloy lists at rawURL, or an
// error for any other answer.
func connectorIDs(rawURL string, headers ...string) ([]string, error) {
	tr, err := toolTry(rawURL, "list_connectors_alloy", map[string]any{}, headers...)
	if err != nil {
		return nil, err
	}
	if tr.IsError {
		return nil, fmt.Errorf("list_connectors_alloy: %s", tr.Raw.Body)
	}
	list, _ := tr.Structured["connectors"].([]any)
	ids := []string{}
	for _, x := range list {
		m, _ := x.(map[string]any)
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	return ids, nil
}

// tokenGate stands between Patchbay and the fake provider's token
// endpoint: before forwarding the next refresh_token grant it runs a hook
// (which takes a dependency away in the middle of a refresh).
type tokenGate struct {
	*httptest.Server
	mu   sync.Mutex
	hook func()
}

func newTokenGate(t *testing.T, p *provider) *tokenGate {
	target, err := url.Parse(p.url(""))
	if err != nil {
		t.Fatal(err)
	}
	g := &tokenGate{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_ = r.ParseForm() // the proxy sends the parsed form on
			body := r.PostForm.Encode()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			if r.PostForm.Get("grant_type") == "refresh_token" {
				g.mu.Lock()
				hook := g.hook
				g.hook = nil
				g.mu.Unlock()
				if hook != nil {
					hook()
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// arm sets the hook of the next refresh grant.
func (g *tokenGate) arm(hook func()) {
	g.mu.Lock()
	g.hook = hook
	g.mu.Unlock()
}

// gatedConnectorDef is oauthConnectorDef with its token endpoint behind g.
func gatedConnectorDef(id string, p *provider, g *tokenGate) map[string]any {
	def := oauthConnectorDef(id, p)
	auth := def["auth"].([]any)
	o := auth[0].(map[string]any)
	o["tokenUrl"] = g.URL + "/token"
	return def
}

// storedSecret opens a credential's sealed record in the database with
// the master key: what a refresh left behind must still decrypt.
func (c *cluster) storedSecret(ctx context.Context, userID, credID string) (*patchbay.Credential, *patchbay.CredentialSecret) {
	c.t.Helper()
	db, open := c.open(ctx)
	cr, err := db.FindCredential(ctx, "default", userID, credID)
	if err != nil {
		c.t.Fatalf("credential %s: %v", credID, err)
	}
	pt, err := open(cr.AccountID, cr.ID, cr.Sealed)
	if err != nil {
		c.t.Fatalf("credential %s does not decrypt: %v", credID, err)
	}
	var s patchbay.CredentialSecret
	if err := json.Unmarshal(pt, &s); err != nil {
		c.t.Fatalf("credential %s decrypts to something else: %v", credID, err)
	}
	return cr, &s
}

// load keeps sending requests through the cluster while a test takes a
// dependency away and brings it back, and records every answer.
type load struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers map[string]int // outcome -> count
	slowest time.Duration
}

// startLoad runs workers goroutines that call send in a loop (i counts the
// worker's calls) until finish; send returns the outcome of one request.
func startLoad(workers int, send func(worker, i int) string) *load {
	l := &load{stop: make(chan struct{}), answers: map[string]int{}}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				outcome := send(w, i)
				d := time.Since(start)
				l.mu.Lock()
				l.answers[outcome]++
				l.slowest = max(l.slowest, d)
				l.mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

// finish stops the load and returns the outcomes and the slowest answer.
func (l *load) finish() (map[string]int, time.Duration) {
	close(l.stop)
	l.wg.Wait()
	return l.answers, l.slowest
}

// outcome names an MCP answer for a load: the status and, for errors, the
// envelope or tool error code.
func outcome(res *mcpResp, err error) string {
	switch {
	case err != nil:
		return "transport error: " + err.Error()
	case res.DecodeErr != nil:
		return "bad framing: " + res.DecodeErr.Error()
	case res.Status != http.StatusOK:
		return fmt.Sprintf("%d %s", res.Status, res.envCode())
	}
	if r := res.result(); r != nil {
		if isErr, _ := r["isError"].(bool); isErr {
			sc, _ := r["structuredContent"].(map[string]any)
			e, _ := sc["error"].(map[string]any)
			return fmt.Sprintf("tool error %v", e["code"])
		}
	}
	return "ok"
}
