package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/gateway"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/oauth"
	"github.com/patchbay-mcp/patchbay/ratelimit"
	"github.com/patchbay-mcp/patchbay/registry"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/ssrf"
	"github.com/patchbay-mcp/patchbay/vault"
)

// A warm gateway assembled from the real parts, as cmd/patchbay wires them:
// SQLite on a temporary directory, the vault, the registry with one
// connector on a loopback platform fake, the connector runtime behind the
// SSRF guard, the OAuth manager, authn, the limiter and the front door.

const (
	testAccount = "acct"
	testUser    = "alice"
	publicURL   = "http://127.0.0.1:8080"
)

// fakeConnector is the connector of the platform fake: apiKey in a header.
const fakeConnector = `{"id":"bench-fake","name":"Bench Fake","description":"A loopback platform","categories":["testing"],
"baseUrl":"BASE","auth":[{"type":"apiKey","in":"header","name":"X-Api-Key"}],
"resources":[{"id":"items","name":"Items","actions":[
 {"id":"items_get","name":"Get item","description":"Fetches one item","method":"GET","path":"/items/{itemId}",
  "parameters":{"type":"object","properties":{"itemId":{"type":"string"},"fields":{"type":"array","items":{"type":"string"}}},"required":["itemId"]}},
 {"id":"items_create","name":"Create item","description":"Creates an item","method":"POST","path":"/items",
  "parameters":{"type":"object","properties":{"title":{"type":"string"}}}}]}]}`

// creds adds Configured to the OAuth manager, as wire.go does.
type creds struct{ *oauth.Manager }

func (creds) Configured(context.Context, string, string) bool { return false }

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hookStore is the real store with optional pauses after selected reads,
// so that tests can interleave a change with a request deterministically.
type hookStore struct {
	*sqlite.DB
	mu          sync.Mutex
	afterServer func(id string)
	afterCreds  func()
}

func (s *hookStore) FindServer(ctx context.Context, id string) (*patchbay.Server, error) {
	srv, err := s.DB.FindServer(ctx, id)
	s.mu.Lock()
	hook := s.afterServer
	s.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return srv, err
}

func (s *hookStore) ListCredentials(ctx context.Context, accountID, userID string, f patchbay.CredentialFilter) ([]*patchbay.Credential, int, error) {
	list, n, err := s.DB.ListCredentials(ctx, accountID, userID, f)
	s.mu.Lock()
	hook := s.afterCreds
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return list, n, err
}

type warmOptions struct {
	now       func() time.Time
	cache     bool // the server's read cache
	configTTL time.Duration
	sdkCalls  bool // tools/call through go-sdk instead of the fast path
}

// warmGateway is an assembled MCP face with one server, one user and one
// credential.
type warmGateway struct {
	tb       testing.TB
	handler  http.Handler
	gw       *gateway.Handler
	store    *hookStore
	vault    *vault.Vault
	manager  *oauth.Manager
	fake     *httptest.Server
	serverID string
	token    string
	credID   string
	adminKey string
	upstream struct {
		sync.Mutex
		calls int
	}
}

func newWarmGateway(tb testing.TB, o *warmOptions) *warmGateway {
	tb.Helper()
	if o == nil {
		o = &warmOptions{}
	}
	if o.now == nil {
		o.now = time.Now
	}
	ctx := context.Background()
	w := &warmGateway{tb: tb}
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "patchbay.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	w.store = &hookStore{DB: db}
	master := bytes.Repeat([]byte{9}, 32)
	if w.vault, err = vault.New(master, db, nil); err != nil {
		tb.Fatal(err)
	}

	// The platform fake answers only the credential's key.
	w.fake = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.upstream.Lock()
		w.upstream.calls++
		w.upstream.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Api-Key") != "sk-warm" {
			rw.WriteHeader(http.StatusUnauthorized)
			_, _ = rw.Write([]byte(`{"message":"bad key"}`))
			return
		}
		_, _ = fmt.Fprintf(rw, `{"id":%q,"name":"Widget","tags":["a","b"],"owner":{"id":7,"email":"ada@example.com"}}`, r.URL.Path)
	}))
	tb.Cleanup(w.fake.Close)

	guard, err := ssrf.New(&ssrf.Options{Allow: []string{"127.0.0.1"}})
	if err != nil {
		tb.Fatal(err)
	}
	def, err := connector.Parse([]byte(strings.Replace(fakeConnector, "BASE", w.fake.URL, 1)), &connector.ValidateOptions{AllowHTTP: func(string) bool { return true }})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := registry.New([]*patchbay.Connector{def}, db, &registry.Options{TTL: o.configTTL, Now: o.now})
	if err != nil {
		tb.Fatal(err)
	}
	runtime := connector.New(guard.Client(30*time.Second), &connector.Options{Version: "test", CheckURL: guard.CheckURL})
	cache := connector.NewMemoryCache(64<<20, o.now)
	var gw *gateway.Handler
	w.manager = oauth.New(db, w.vault, reg, &oauth.Options{PublicURL: publicURL, HTTPClient: guard.Client(30 * time.Second), Now: o.now,
		OnCredentialChanged: func(ctx context.Context, c *patchbay.Credential) {
			if gw != nil {
				gw.CredentialChanged(c)
			}
			_ = cache.DeleteGroup(ctx, connector.CredentialGroup(c.AccountID, c.UserID, c.ID, c.ConnectorID))
		}})
	auth := authn.New(db, w.vault, db, &authn.Options{PublicURL: publicURL, Now: o.now})
	limiter := ratelimit.New(ratelimit.NewMemoryStore(nil), &ratelimit.Options{Now: o.now})
	gw = gateway.New(w.store, auth, reg, limiter, runtime, cache, creds{w.manager}, &gateway.Options{
		PublicURL: publicURL, Version: "test", RateLimit: 1 << 30, ConfigTTL: o.configTTL, Now: o.now, SDKToolCalls: o.sdkCalls})
	tb.Cleanup(gw.Close)
	w.gw = gw
	pub, _ := url.Parse(publicURL)
	if w.handler, err = frontdoor.New(gw, &frontdoor.Options{PublicURL: pub, Now: o.now}); err != nil {
		tb.Fatal(err)
	}

	// Account, admin key, server and credential, as the CLI and the REST
	// API would store them.
	now := o.now().UTC().Truncate(time.Second)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	sealed, err := w.vault.Seal(ctx, testAccount, patchbay.JWTSecretRecordID(1), secret)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateAccount(ctx, &patchbay.Account{ID: testAccount, Name: "Test", CreatedAt: now, UpdatedAt: now,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: sealed, CreatedAt: now}}); err != nil {
		tb.Fatal(err)
	}
	w.adminKey = ids.APIKey()
	h := authn.HashAPIKey(w.adminKey)
	if err := db.CreateAPIKey(ctx, &patchbay.APIKey{ID: ids.KeyID(), AccountID: testAccount, UserID: "admin", Name: "admin",
		Role: patchbay.RoleAdmin, Prefix: w.adminKey[:7], Hash: h[:], CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	w.serverID, w.token = w.createServer("Warm", func(s *patchbay.Server) { s.Cache = o.cache; s.TokenExpiresAt = now.Add(24 * time.Hour) })
	cred, err := w.manager.CreateCredential(ctx, oauth.CreateInput{AccountID: testAccount, UserID: testUser, ConnectorID: "bench-fake",
		AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"apiKey": "sk-warm"}, Actor: patchbay.Actor{Kind: patchbay.ActorSystem}})
	if err != nil {
		tb.Fatal(err)
	}
	w.credID = cred.ID
	return w
}

// createServer stores a server of testUser and returns its ID and token.
func (w *warmGateway) createServer(name string, edit func(*patchbay.Server)) (string, string) {
	w.tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	id := patchbay.Slug(name) + "-" + ids.Hex(nil, 8)
	token := ids.ServerToken()
	sum := sha256.Sum256([]byte(token))
	sealed, err := w.vault.Seal(ctx, testAccount, id, []byte(token))
	if err != nil {
		w.tb.Fatal(err)
	}
	s := &patchbay.Server{ID: id, AccountID: testAccount, OwnerID: testUser, Name: name, Mode: patchbay.ModeConnectivity, Cache: true,
		TokenHash: sum[:], TokenSealed: sealed, TokenExpiresAt: now.Add(90 * 24 * time.Hour), CreatedAt: now, UpdatedAt: now}
	if edit != nil {
		edit(s)
	}
	if err := w.store.CreateServer(ctx, s); err != nil {
		w.tb.Fatal(err)
	}
	return id, token
}

func (w *warmGateway) tokenPath() string { return "/mcp/" + w.serverID + "/" + w.token }

// request builds a valid MCP POST.
func request(path, body string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Host = "127.0.0.1:8080"
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

// post serves one request and returns the recorder.
func (w *warmGateway) post(path, body string, headers ...string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, request(path, body, headers...))
	return rec
}

// rpcData returns the JSON-RPC message of an SSE answer.
func rpcData(tb testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	body := rec.Body.String()
	const prefix = "event: message\ndata: "
	if rec.Code != http.StatusOK || !strings.HasPrefix(body, prefix) {
		tb.Fatalf("not an SSE answer: %d %s", rec.Code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(body[len(prefix):])), &m); err != nil {
		tb.Fatalf("SSE data: %v: %s", err, body)
	}
	return m
}

// toolCall is the body of a tools/call.
func toolCall(name string, args any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	return string(b)
}

// execute calls execute_action_alloy and returns the tool result.
func (w *warmGateway) execute(action string, params map[string]any, extra ...any) map[string]any {
	w.tb.Helper()
	args := map[string]any{"connectorId": "bench-fake", "actionId": action, "parameters": params}
	for i := 0; i+1 < len(extra); i += 2 {
		args[extra[i].(string)] = extra[i+1]
	}
	res, _ := rpcData(w.tb, w.post(w.tokenPath(), toolCall("execute_action_alloy", args)))["result"].(map[string]any)
	if res == nil {
		w.tb.Fatal("no result")
	}
	return res
}

func (w *warmGateway) upstreamCalls() int {
	w.upstream.Lock()
	defer w.upstream.Unlock()
	return w.upstream.calls
}
