package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Helpers of api_connectors_test.go, api_credentials_test.go and
// e2e_credentials_test.go: a fake OAuth provider with its platform API, a
// browser that walks the connect pages, an upstream MCP server, and a leak
// scanner fed with every secret the tests create or the provider issues.

// canaries collects secret values that must never show up outside the
// encrypted store.
type canaries struct {
	mu   sync.Mutex
	vals map[string]string // value -> what it is
}

func newCanaries() *canaries { return &canaries{vals: map[string]string{}} }

func (c *canaries) add(what, v string) string {
	c.mu.Lock()
	c.vals[v] = what
	c.mu.Unlock()
	return v
}

func (c *canaries) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.vals)
}

// find returns a description of every canary found in data.
func (c *canaries) find(data []byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for v, what := range c.vals {
		if strings.Contains(string(data), v) {
			out = append(out, what)
		}
	}
	return out
}

// scan fails the test when data contains a canary.
func (c *canaries) scan(t testing.TB, where string, data []byte) {
	t.Helper()
	if found := c.find(data); len(found) > 0 {
		t.Errorf("%s contains %v", where, found)
	}
}

// secretValue returns a fresh random secret with a recognisable prefix.
func secretValue(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// seenBodies records every response the tests got, for the leak scan.
type seenBodies struct {
	mu  sync.Mutex
	all []string
}

func (s *seenBodies) add(where string, h http.Header, body []byte) {
	var hb strings.Builder
	for k, vs := range h {
		fmt.Fprintf(&hb, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	s.mu.Lock()
	s.all = append(s.all, where+"\n"+hb.String()+"\n"+string(body))
	s.mu.Unlock()
}

func (s *seenBodies) api(where string, r *resp) *resp {
	s.add(where, r.Header, r.Body)
	return r
}

func (s *seenBodies) tool(where string, tr *toolResult) *toolResult {
	s.add(where, tr.Raw.Header, tr.Raw.Body)
	return tr
}

func (s *seenBodies) scan(t testing.TB, c *canaries) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.all {
		where, _, _ := strings.Cut(b, "\n")
		c.scan(t, "response of "+where, []byte(b))
	}
}

// provider is an httptest OAuth 2 authorization server plus the platform
// API behind it. It checks what a real provider checks: the client's
// credentials (client_secret_basic), PKCE S256, the exact redirect URI, the
// state's shape and single-use codes; it rotates refresh tokens.
type provider struct {
	t           testing.TB
	srv         *httptest.Server
	secrets     *canaries
	clientID    string
	secret      string
	redirectURI string // {publicUrl}/oauth/callback

	mu         sync.Mutex
	codeTTL    int // expires_in of tokens from a code
	refreshTTL int // expires_in of tokens from a refresh
	codes      map[string]*grant
	access     map[string]int  // live access token -> its number (1, 2, ...)
	refresh    map[string]bool // refresh token -> still valid
	issued     int
	revoked    []string
	authorize  []url.Values
	tokenReqs  []url.Values // every token request's form, minus secrets

	refreshes atomic.Int64
	apiCalls  atomic.Int64
}

type grant struct {
	challenge, redirectURI, scope string
	used                          bool
}

func newProvider(t testing.TB, secrets *canaries, clientID, clientSecret string) *provider {
	p := &provider{t: t, secrets: secrets, clientID: clientID, secret: clientSecret, codeTTL: 3600, refreshTTL: 3600,
		codes: map[string]*grant{}, access: map[string]int{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.handleAuthorize)
	mux.HandleFunc("POST /token", p.handleToken)
	mux.HandleFunc("POST /revoke", p.handleRevoke)
	mux.HandleFunc("GET /api/me", p.handleMe)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) url(path string) string { return p.srv.URL + path }

func (p *provider) setTTL(code, refresh int) {
	p.mu.Lock()
	p.codeTTL, p.refreshTTL = code, refresh
	p.mu.Unlock()
}

func (p *provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorize = append(p.authorize, q)
	p.mu.Unlock()
	bad := func(why string) { http.Error(w, why, http.StatusBadRequest) }
	switch {
	case q.Get("response_type") != "code":
		bad("response_type")
	case q.Get("client_id") != p.clientID:
		bad("unknown client")
	case q.Get("redirect_uri") != p.redirectURI:
		bad("redirect_uri mismatch: " + q.Get("redirect_uri"))
	case len(q.Get("state")) != 43:
		bad("state")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		bad("pkce")
	default:
		code := secretValue("code-")
		p.mu.Lock()
		p.codes[code] = &grant{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), scope: q.Get("scope")}
		p.mu.Unlock()
		back, _ := url.Parse(p.redirectURI)
		back.RawQuery = url.Values{"state": {q.Get("state")}, "code": {code}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *provider) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	user, pass, ok := r.BasicAuth()
	if ok {
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
	}
	if !ok || user != p.clientID || pass != p.secret || r.PostForm.Has("client_secret") {
		writeJSONBody(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	form := url.Values{}
	for k, v := range r.PostForm {
		form[k] = v
	}
	p.tokenReqs = append(p.tokenReqs, form)
	ttl, scope := p.codeTTL, ""
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g := p.codes[r.PostForm.Get("code")]
		verifier := r.PostForm.Get("code_verifier")
		if verifier != "" {
			p.secrets.add("PKCE verifier", verifier)
		}
		sum := sha256.Sum256([]byte(verifier))
		switch {
		case g == nil || g.used:
			writeJSONBody(w, 400, map[string]string{"error": "invalid_grant"})
			return
		case r.PostForm.Get("redirect_uri") != g.redirectURI:
			writeJSONBody(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			writeJSONBody(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		}
		g.used, scope = true, g.scope
	case "refresh_token":
		p.refreshes.Add(1)
		rt := r.PostForm.Get("refresh_token")
		if !p.refresh[rt] {
			writeJSONBody(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		p.refresh[rt] = false
		ttl = p.refreshTTL
	default:
		writeJSONBody(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	at, rt := p.secrets.add("access token", secretValue("at-")), p.secrets.add("refresh token", secretValue("rt-"))
	p.issued++
	p.access[at] = p.issued
	p.refresh[rt] = true
	body := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": ttl, "refresh_token": rt}
	if scope != "" {
		body["scope"] = scope
	}
	writeJSONBody(w, 200, body)
}

func (p *provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	p.mu.Lock()
	tok := r.PostForm.Get("token")
	p.revoked = append(p.revoked, tok)
	p.refresh[tok] = false
	delete(p.access, tok)
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// handleMe is the platform: it answers with the number of the access token
// it was called with (never the token itself).
func (p *provider) handleMe(w http.ResponseWriter, r *http.Request) {
	p.apiCalls.Add(1)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	n, ok := p.access[tok]
	p.mu.Unlock()
	if !ok {
		writeJSONBody(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSONBody(w, 200, map[string]any{"user": "ada", "tokenNumber": n})
}

// expireAccess makes every access token issued so far invalid at the
// platform, as an expiry the gateway did not foresee.
func (p *provider) expireAccess() {
	p.mu.Lock()
	clear(p.access)
	p.mu.Unlock()
}

// revokeRefresh is the user disconnecting the app at the provider.
func (p *provider) revokeRefresh() {
	p.mu.Lock()
	for k := range p.refresh {
		p.refresh[k] = false
	}
	p.mu.Unlock()
}

func (p *provider) authorizeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.authorize)
}

func (p *provider) revokedTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.revoked...)
}

// oauthConnectorDef is a custom connector on the provider's platform with
// oauth2 (PKCE, revocation) and an apiKey scheme with extra fields.
func oauthConnectorDef(id string, p *provider) map[string]any {
	return map[string]any{
		"id": id, "name": "OAuth Fake " + id, "description": "A platform behind a fake OAuth provider", "categories": []string{"testing"},
		"baseUrl": p.url("/api"),
		"auth": []any{
			map[string]any{"type": "oauth2", "authorizationUrl": p.url("/authorize"), "tokenUrl": p.url("/token"),
				"revocationUrl": p.url("/revoke"), "scopes": []string{"me.read", "me.write"}},
			map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key", "fields": []any{
				map[string]any{"name": "region", "label": "Region", "secret": false, "enum": []string{"us", "eu"}},
				map[string]any{"name": "team", "label": "Team", "secret": false, "pattern": "^[a-z]+$", "required": false},
				map[string]any{"name": "pin", "label": "PIN", "pattern": "^[0-9]{4}$"},
			}},
		},
		"resources": []any{map[string]any{"id": "me", "name": "Me", "actions": []any{
			map[string]any{"id": "me_get", "name": "Who am I", "description": "The connected user", "method": "GET", "path": "/me"},
		}}},
	}
}

// browser walks the HTML pages of a connect flow with a cookie jar, one
// redirect at a time. Every response is recorded for the leak scan.
type browser struct {
	t      testing.TB
	client *http.Client
	seen   *seenBodies
}

func newBrowser(t testing.TB, seen *seenBodies) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, seen: seen, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if b.seen != nil {
		b.seen.add(req.Method+" "+req.URL.Path, res.Header, body)
	}
	return res, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) postForm(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	reCSRF       = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reFormAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// confirm GETs a start or form page and returns its form action (absolute)
// and CSRF token.
func (b *browser) confirm(pageURL string) (action, csrf string) {
	b.t.Helper()
	res, body := b.get(pageURL)
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", pageURL, res.StatusCode, body)
	}
	m, a := reCSRF.FindStringSubmatch(body), reFormAction.FindStringSubmatch(body)
	if m == nil || a == nil {
		b.t.Fatalf("no form with a csrf input in %s", body)
	}
	base, _ := url.Parse(pageURL)
	ref, _ := url.Parse(html.UnescapeString(a[1]))
	return base.ResolveReference(ref).String(), html.UnescapeString(m[1])
}

// connect walks an oauthUrl: the confirmation page, its POST with the CSRF
// cookie, the provider's authorize endpoint and the callback. It returns
// the query Patchbay appended to the redirect URI.
func (b *browser) connect(oauthURL string) url.Values {
	b.t.Helper()
	action, csrf := b.confirm(oauthURL)
	res, body := b.postForm(action, url.Values{"csrf": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d %s", action, res.StatusCode, body)
	}
	next := res.Header.Get("Location")
	for range 3 {
		res, body = b.get(next)
		if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
			b.t.Fatalf("GET %s: %d %s", next, res.StatusCode, body)
		}
		next = res.Header.Get("Location")
		if !strings.Contains(next, "/oauth/callback") && !strings.Contains(next, "/authorize") {
			break
		}
	}
	u, err := url.Parse(next)
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Query()
}

// upstreamMCP is a go-sdk MCP server on loopback whose tool list can change
// and which records the static headers it receives.
type upstreamMCP struct {
	*httptest.Server
	srv     *mcp.Server
	mu      sync.Mutex
	headers []http.Header
}

func newUpstreamMCP(t testing.TB) *upstreamMCP {
	up := &upstreamMCP{srv: mcp.NewServer(&mcp.Implementation{Name: "fake-upstream", Version: "1"}, &mcp.ServerOptions{PageSize: 2})}
	up.addTool("search.docs", "Search docs", true)
	up.addTool("read-page", "", true)
	up.addTool("delete_page", "Delete a page", false)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up.srv }, nil)
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		up.headers = append(up.headers, r.Header.Clone())
		up.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	return up
}

func (up *upstreamMCP) addTool(name, title string, readOnly bool) {
	up.srv.AddTool(&mcp.Tool{Name: name, Title: title, Description: "Tool " + name,
		InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: readOnly}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"tool":"` + name + `","team":"` + req.Extra.Header.Get("X-Team") + `"}`}}}, nil
		})
}

func (up *upstreamMCP) sawHeader(name, value string) bool {
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, h := range up.headers {
		if h.Get(name) == value {
			return true
		}
	}
	return false
}

// auditEvents returns every audit event of the caller's account (newest
// first), following nextCursor; raw holds the response bodies.
func (ts *testServer) auditEvents(query string, headers ...string) (events []map[string]any, raw []byte) {
	ts.t.Helper()
	cursor := ""
	for range 100 {
		q := "/api/audit?limit=200" + query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := ts.call("GET", q, nil, headers...).want(ts.t, http.StatusOK)
		raw = append(raw, r.Body...)
		events = append(events, r.list("events")...)
		c, _ := r.JSON["nextCursor"].(string)
		if c == "" {
			return events, raw
		}
		cursor = c
	}
	ts.t.Fatal("audit pagination does not end")
	return nil, nil
}

// dbFiles returns the raw bytes of the SQLite database files in dir.
func dbFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range []string{"patchbay.db", "patchbay.db-wal", "patchbay.db-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		out[n] = b
	}
	if len(out) == 0 {
		t.Fatalf("no database files in %s", dir)
	}
	return out
}

// testdataOpenAPI reads a shared OpenAPI test document.
func testdataOpenAPI(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "openapi", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var regexpCred = regexp.MustCompile(`^cred_[0-9A-Za-z]{20}$`)

// regexpStart matches an oauthUrl under base (§13.2).
func regexpStart(base string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(base) + `/oauth/start/[0-9A-Za-z]{32}$`)
}
