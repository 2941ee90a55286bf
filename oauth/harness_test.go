package oauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
	"github.com/patchbay-mcp/patchbay/sqlite"
	"github.com/patchbay-mcp/patchbay/vault"
)

const (
	accountA     = "acme"
	accountB     = "globex"
	userA        = "cust-42"
	userB        = "cust-77"
	clientSecret = "cs-canary-Vq1rM2xJ0pT8"
	appRedirect  = "https://app.example.com/integrations/callback"
)

// clock is the injected time of every component.
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

// syncBuffer collects text written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// catalog is the test's Connectors: built-ins for everyone plus custom
// connectors per account.
type catalog struct {
	mu      sync.Mutex
	builtin map[string]*patchbay.Connector
	custom  map[string]map[string]*patchbay.Connector
}

func (c *catalog) Connector(_ context.Context, accountID, id string) (*patchbay.Connector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.custom[accountID][id]; ok {
		return conn, nil
	}
	if conn, ok := c.builtin[id]; ok {
		return conn, nil
	}
	return nil, patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
}

func (c *catalog) add(conn *patchbay.Connector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn.Source == "" {
		conn.Source = patchbay.SourceBuiltin
	}
	c.builtin[conn.ID] = conn
}

func f(b bool) *bool { return &b }

// connectors are hand-written definitions pointing at the fake provider.
func testConnectors(p *provider) []*patchbay.Connector {
	region := patchbay.AuthField{Name: "region", Label: "Data region", Secret: f(false), Enum: []string{"us", "eu"}}
	oauthScheme := func(method string) patchbay.AuthScheme {
		return patchbay.AuthScheme{Type: patchbay.AuthOAuth2, AuthorizationURL: p.url("/authorize"), TokenURL: p.url("/token"),
			RevocationURL: p.url("/revoke"), Scopes: []string{"contacts.read", "deals.write"}, TokenAuthMethod: method,
			AuthorizeParams: map[string]string{"access_type": "offline", "state": "evil"}, Fields: []patchbay.AuthField{region}}
	}
	return []*patchbay.Connector{
		{ID: "acme-crm", Name: "Acme CRM", BaseURL: "https://{region}.api.acme-crm.example/v2", Auth: []patchbay.AuthScheme{
			oauthScheme(""),
			{Type: patchbay.AuthAPIKey, In: "header", Name: "X-Api-Key", Fields: []patchbay.AuthField{region,
				{Name: "workspace", Label: "Workspace", Secret: f(false), Pattern: "^[a-z]+$", Required: f(false)},
				{Name: "signingKey", Label: "Signing key", Required: f(false)}}},
			{Type: patchbay.AuthBasic},
		}},
		{ID: "acme-post", Name: "Acme Post", BaseURL: "https://api.acme-post.example", Auth: []patchbay.AuthScheme{oauthScheme("client_secret_post")}},
		{ID: "sales", Name: "Sales <Cloud>", BaseURL: "https://{instance}.my.sales.example/services/data", Auth: []patchbay.AuthScheme{
			{Type: patchbay.AuthOAuth2, AuthorizationURL: p.url("/authorize"), TokenURL: p.url("/token"), Scopes: []string{"api", "refresh_token"},
				TokenAuthMethod: "client_secret_post", Fields: []patchbay.AuthField{{Name: "instance", Secret: f(false), Pattern: "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", Required: f(false)}}},
		}},
		{ID: "bearer-only", Name: "Bearer Only", BaseURL: "https://api.bearer.example", Auth: []patchbay.AuthScheme{{Type: patchbay.AuthBearer}}},
		{ID: "no-auth", Name: "No Auth", BaseURL: "https://api.noauth.example"},
		{ID: "no-app", Name: "No App", BaseURL: "https://api.noapp.example", Auth: []patchbay.AuthScheme{oauthScheme("")}},
	}
}

// env is one Patchbay instance's credential side over real SQLite, a real
// vault and real HTTP, plus a fake provider. Everything secret that the
// test or the provider creates is registered as a canary, and Cleanup scans
// logs, our HTTP responses and the audit log for each.
type env struct {
	t        testing.TB
	clock    *clock
	db       *sqlite.DB
	vault    *vault.Vault
	catalog  *catalog
	prov     *provider
	m        *oauth.Manager
	srv      *httptest.Server
	logs     *syncBuffer
	wire     *syncBuffer // every response of our handler: status, headers, body
	canaryMu sync.Mutex
	canaries []string
	outcomes *syncBuffer
	changed  *syncBuffer
}

type envOptions struct {
	locker  oauth.Locker
	noApp   bool // no account-level OAuth app for acme-crm
	db      *sqlite.DB
	vault   *vault.Vault
	clock   *clock
	prov    *provider
	catalog *catalog
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logs: &syncBuffer{}, wire: &syncBuffer{}, outcomes: &syncBuffer{}, changed: &syncBuffer{}}
	e.clock = o.clock
	if e.clock == nil {
		e.clock = &clock{t: time.Now().UTC().Truncate(time.Second)}
	}
	e.db = o.db
	if e.db == nil {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "patchbay.db"), &sqlite.Options{Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e.db = db
		for _, id := range []string{accountA, accountB} {
			if err := db.CreateAccount(ctx, &patchbay.Account{ID: id, Name: id, AllowedRedirectURIs: []string{appRedirect, "http://localhost:5173/cb"},
				JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: []byte{1}, CreatedAt: e.clock.Now()}, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.vault = o.vault
	if e.vault == nil {
		master := make([]byte, 32)
		_, _ = rand.Read(master)
		v, err := vault.New(master, e.db, &vault.Options{Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		e.vault = v
	}
	e.prov = o.prov
	if e.prov == nil {
		e.prov = newProvider(t, e.clock.Now, e.canary)
	}
	e.catalog = o.catalog
	if e.catalog == nil {
		e.catalog = &catalog{builtin: map[string]*patchbay.Connector{}}
		for _, c := range testConnectors(e.prov) {
			e.catalog.add(c)
		}
	}
	e.canary(clientSecret)
	e.canary("instance-secret-Zz9")

	h := http.NotFoundHandler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Fprintf(e.wire, "%d %v\n%s\n", rec.Code, rec.Header(), rec.Body.String())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(e.srv.Close)
	if o.prov == nil { // a shared provider keeps the first instance's callback
		e.prov.redirectURI = e.srv.URL + "/oauth/callback"
		e.prov.clients["acme-client"] = client{secret: clientSecret, method: "client_secret_basic"}
		e.prov.clients["post-client"] = client{secret: clientSecret, method: "client_secret_post"}
		e.prov.clients["instance-client"] = client{secret: "instance-secret-Zz9", method: "client_secret_post"}
	}

	e.m = oauth.New(e.db, e.vault, e.catalog, &oauth.Options{
		PublicURL:  e.srv.URL,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		InstanceApps: map[string]oauth.InstanceApp{
			"sales": {ClientID: "instance-client", ClientSecret: patchbay.NewSecret("instance-secret-Zz9")},
		},
		Locker: o.locker,
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnCredentialChanged: func(_ context.Context, c *patchbay.Credential) {
			fmt.Fprintln(e.changed, c.ID)
		},
		OnRefresh: func(outcome string) { fmt.Fprintln(e.outcomes, outcome) },
	})
	h = e.m.Handler()
	if o.db == nil && !o.noApp {
		e.putApp(accountA, "acme-crm", "acme-client")
		e.putApp(accountA, "acme-post", "post-client")
		e.putApp(accountB, "acme-crm", "acme-client")
	}
	t.Cleanup(e.scanLeaks)
	return e
}

// putApp stores an account-level OAuth app with the canary secret.
func (e *env) putApp(accountID, connectorID, clientID string) {
	e.t.Helper()
	ctx := context.Background()
	sealed, err := e.vault.Seal(ctx, accountID, patchbay.OAuthAppRecordID(connectorID), []byte(clientSecret))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.PutOAuthApp(ctx, &patchbay.OAuthApp{AccountID: accountID, ConnectorID: connectorID, ClientID: clientID,
		SecretSealed: sealed, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) canary(s string) {
	e.canaryMu.Lock()
	e.canaries = append(e.canaries, s)
	e.canaryMu.Unlock()
}

// scanLeaks fails the test when a canary appears in a log line, one of our
// HTTP responses (headers included) or an audit record.
func (e *env) scanLeaks() {
	ctx := context.Background()
	var audit strings.Builder
	for _, acct := range []string{accountA, accountB} {
		events, _, err := e.db.ListAudit(ctx, acct, patchbay.AuditFilter{Limit: 10000})
		if err != nil {
			e.t.Errorf("list audit: %v", err)
			continue
		}
		for _, ev := range events {
			b, _ := json.Marshal(ev)
			audit.Write(b)
			fmt.Fprintf(&audit, "%+v\n", *ev)
		}
	}
	sources := map[string]string{"log": e.logs.String(), "http response": e.wire.String(), "audit": audit.String()}
	e.canaryMu.Lock()
	defer e.canaryMu.Unlock()
	for _, c := range e.canaries {
		for name, text := range sources {
			if c != "" && strings.Contains(text, c) {
				e.t.Errorf("secret %.6s... leaked into %s", c, name)
			}
		}
	}
}

// noLeak checks a value handed back to a caller (an error, a URL).
func (e *env) noLeak(what, text string) {
	e.t.Helper()
	e.canaryMu.Lock()
	defer e.canaryMu.Unlock()
	for _, c := range e.canaries {
		if strings.Contains(text, c) {
			e.t.Errorf("secret %.6s... leaked into %s", c, what)
		}
	}
}

func (e *env) auditEvents(accountID, typ string) []*patchbay.AuditEvent {
	e.t.Helper()
	events, _, err := e.db.ListAudit(context.Background(), accountID, patchbay.AuditFilter{Limit: 10000, Type: typ})
	if err != nil {
		e.t.Fatal(err)
	}
	return events
}

func (e *env) findCredential(accountID, userID, id string) *patchbay.Credential {
	e.t.Helper()
	c, err := e.db.FindCredential(context.Background(), accountID, userID, id)
	if err != nil {
		e.t.Fatalf("find credential %s: %v", id, err)
	}
	return c
}

// browser is a user agent with a cookie jar that does not follow redirects.
type browser struct {
	t      testing.TB
	client *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// cookie returns the jar's value of a cookie for the Patchbay server.
func (b *browser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(base, name, value string) {
	u, _ := url.Parse(base)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf input in page:\n%s", body)
	}
	return m[1]
}

// startLink opens a start link and confirms it: the 303 to the provider.
func startLink(t testing.TB, b *browser, oauthURL string) page {
	t.Helper()
	p := b.get(oauthURL)
	if p.status != http.StatusOK {
		t.Fatalf("GET start link: %d\n%s", p.status, p.body)
	}
	r := b.post(oauthURL, url.Values{"csrf": {csrfOf(t, p.body)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST start link: %d\n%s", r.status, r.body)
	}
	return r
}

// connect runs the whole browser side: start page, confirm, consent at the
// provider, callback. It returns the final redirect.
func connect(t testing.TB, b *browser, oauthURL string) *url.URL {
	t.Helper()
	toProvider := startLink(t, b, oauthURL)
	consent := b.get(toProvider.location())
	if consent.status != http.StatusFound {
		t.Fatalf("provider authorize: %d %s", consent.status, consent.body)
	}
	done := b.get(consent.location())
	if done.status != http.StatusFound {
		t.Fatalf("callback: %d\n%s", done.status, done.body)
	}
	u, err := url.Parse(done.location())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func errDetails(err error) map[string]any { return patchbay.ErrorDetails(err) }

func reason(err error) any { return errDetails(err)["reason"] }
