package oauth_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// provider is an httptest OAuth 2 authorization server and "platform" API.
// It checks what a real provider checks (client authentication, PKCE S256,
// the exact redirect URI, single-use codes) and rotates refresh tokens.
type provider struct {
	t       testing.TB
	srv     *httptest.Server
	now     func() time.Time
	onIssue func(secret string) // every issued token and received verifier: leak canaries

	// expected values
	redirectURI string
	clients     map[string]client // client ID -> secret and auth method

	ttl     time.Duration // access-token lifetime
	extras  map[string]any
	noScope bool // answer without a scope member

	mu        sync.Mutex
	codes     map[string]*grant
	access    map[string]time.Time // token -> expiry
	refresh   map[string]bool      // token -> still valid
	revoked   []string             // tokens named at /revoke
	deny      bool                 // authorize answers error=access_denied
	fail      func(grant string) (status int, body string)
	gate      chan struct{} // token requests wait for it when set
	authorize []url.Values  // every authorize query

	tokenRequests   atomic.Int64
	refreshRequests atomic.Int64
}

type client struct {
	secret string
	method string // client_secret_basic or client_secret_post
}

type grant struct {
	clientID, challenge, redirectURI, scope string
	used                                    bool
}

func newProvider(t testing.TB, now func() time.Time, onIssue func(string)) *provider {
	p := &provider{t: t, now: now, onIssue: onIssue, clients: map[string]client{}, ttl: time.Hour,
		codes: map[string]*grant{}, access: map[string]time.Time{}, refresh: map[string]bool{}}
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

func randomToken(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (p *provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorize = append(p.authorize, q)
	deny := p.deny
	p.mu.Unlock()
	bad := func(why string) { http.Error(w, why, http.StatusBadRequest) }
	switch {
	case q.Get("response_type") != "code":
		bad("response_type")
		return
	case q.Get("redirect_uri") != p.redirectURI:
		bad("redirect_uri mismatch")
		return
	case len(q.Get("state")) != 43:
		bad("state")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		bad("pkce")
		return
	}
	if _, ok := p.clients[q.Get("client_id")]; !ok {
		bad("unknown client")
		return
	}
	back, _ := url.Parse(p.redirectURI)
	v := url.Values{"state": {q.Get("state")}}
	if deny {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user said no")
	} else {
		code := randomToken("code-")
		p.mu.Lock()
		p.codes[code] = &grant{clientID: q.Get("client_id"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), scope: q.Get("scope")}
		p.mu.Unlock()
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authenticate checks client authentication exactly as the client's method
// says: Basic with form-encoded ID and secret, or both in the body, never both.
func (p *provider) authenticate(r *http.Request) (string, bool) {
	user, pass, hasBasic := r.BasicAuth()
	if hasBasic {
		var err error
		if user, err = url.QueryUnescape(user); err != nil {
			return "", false
		}
		if pass, err = url.QueryUnescape(pass); err != nil {
			return "", false
		}
		c, ok := p.clients[user]
		return user, ok && c.method == "client_secret_basic" && c.secret == pass && !r.PostForm.Has("client_secret")
	}
	id := r.PostForm.Get("client_id")
	c, ok := p.clients[id]
	return id, ok && c.method == "client_secret_post" && c.secret == r.PostForm.Get("client_secret")
}

func (p *provider) handleToken(w http.ResponseWriter, r *http.Request) {
	p.tokenRequests.Add(1)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	grantType := r.PostForm.Get("grant_type")
	if grantType == "refresh_token" {
		p.refreshRequests.Add(1)
	}
	p.mu.Lock()
	gate, fail := p.gate, p.fail
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		if status, body := fail(grantType); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	clientID, ok := p.authenticate(r)
	if !ok {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	scope := ""
	switch grantType {
	case "authorization_code":
		g := p.codes[r.PostForm.Get("code")]
		verifier := r.PostForm.Get("code_verifier")
		if verifier != "" {
			p.onIssue(verifier)
		}
		sum := sha256.Sum256([]byte(verifier))
		switch {
		case g == nil || g.used || g.clientID != clientID:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		case r.PostForm.Get("redirect_uri") != g.redirectURI:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		}
		g.used = true
		scope = g.scope
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !p.refresh[rt] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		p.refresh[rt] = false // rotation: a refresh token works once
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	at, rt := randomToken("at-"), randomToken("rt-")
	p.onIssue(at)
	p.onIssue(rt)
	p.access[at] = p.now().Add(p.ttl)
	p.refresh[rt] = true
	body := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(p.ttl.Seconds()), "refresh_token": rt}
	if !p.noScope && scope != "" {
		body["scope"] = scope
	}
	for k, v := range p.extras {
		body[k] = v
	}
	writeJSON(w, 200, body)
}

// handleRevoke revokes a refresh token (RFC 7009); always 200.
func (p *provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if _, ok := p.authenticate(r); !ok {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	tok := r.PostForm.Get("token")
	p.revoked = append(p.revoked, tok)
	p.refresh[tok] = false
	delete(p.access, tok)
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// revokeAll is the user disconnecting the app at the provider.
func (p *provider) revokeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.refresh {
		p.refresh[k] = false
	}
}

func (p *provider) handleMe(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	exp, known := p.access[tok]
	p.mu.Unlock()
	if !ok || !known || !p.now().Before(exp) {
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, 200, map[string]string{"user": "ada"})
}

// callPlatform calls the fake platform with an access token.
func (p *provider) callPlatform(t testing.TB, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url("/api/me"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("platform call: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *provider) setFail(f func(grant string) (int, string)) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

func (p *provider) setDeny(v bool) {
	p.mu.Lock()
	p.deny = v
	p.mu.Unlock()
}

func (p *provider) lastAuthorize() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.authorize) == 0 {
		return nil
	}
	return p.authorize[len(p.authorize)-1]
}

func (p *provider) revokedTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.revoked...)
}

func (p *provider) String() string { return fmt.Sprintf("provider(%s)", p.srv.URL) }
