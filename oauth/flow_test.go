package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
)

var apiActor = patchbay.Actor{Kind: patchbay.ActorAPIKey, KeyID: "key_0123456789abcdef", UserID: userA}

func startReq(connectorID string) oauth.FlowRequest {
	return oauth.FlowRequest{AccountID: accountA, UserID: userA, ConnectorID: connectorID, AuthType: patchbay.AuthOAuth2,
		Fields: map[string]string{"region": "eu"}, RedirectURI: appRedirect + "?tenant=7", Actor: apiActor}
}

func (e *env) start(r oauth.FlowRequest) string {
	e.t.Helper()
	u, exp, err := e.m.StartOAuth(context.Background(), r)
	if err != nil {
		e.t.Fatalf("StartOAuth: %v", err)
	}
	if want := e.clock.Now().Add(10 * time.Minute); !exp.Equal(want) {
		e.t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	return u
}

// connectNew runs a whole flow and returns the stored credential.
func (e *env) connectNew(r oauth.FlowRequest) *patchbay.Credential {
	e.t.Helper()
	final := connect(e.t, newBrowser(e.t), e.start(r))
	if final.Query().Get("status") != "success" {
		e.t.Fatalf("flow ended with %s", final)
	}
	return e.findCredential(r.AccountID, r.UserID, final.Query().Get("credentialId"))
}

// credView is what a test compares of a credential.
type credView struct {
	ConnectorID, Name, AuthType, Status, BoundServerID string
	Config                                             map[string]string
	Scopes                                             []string
	ExpiresAt                                          *time.Time
}

func view(c *patchbay.Credential) credView {
	return credView{c.ConnectorID, c.Name, c.AuthType, c.Status, c.BoundServerID, c.Config, c.Scopes, c.ExpiresAt}
}

func tp(t time.Time) *time.Time { return &t }

// TestConnectRefreshReauth is the life of an OAuth credential: start link,
// consent, callback, use, transparent refresh with rotation, revocation at
// the provider, needs_reauth with a reconnect link, and the reconnect.
func TestConnectRefreshReauth(t *testing.T) {
	tests := []struct {
		name      string
		connector string
		clientID  string
	}{
		{name: "ClientSecretBasic", connector: "acme-crm", clientID: "acme-client"},
		{name: "ClientSecretPost", connector: "acme-post", clientID: "post-client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			oauthURL := e.start(startReq(tt.connector))
			if !strings.HasPrefix(oauthURL, e.srv.URL+"/oauth/start/") || len(strings.TrimPrefix(oauthURL, e.srv.URL+"/oauth/start/")) != 32 {
				t.Fatalf("oauthUrl = %s", oauthURL)
			}
			b := newBrowser(t)
			final := connect(t, b, oauthURL)

			authz := e.prov.lastAuthorize()
			wantAuthz := map[string]string{"client_id": tt.clientID, "scope": "contacts.read deals.write", "access_type": "offline",
				"code_challenge_method": "S256", "response_type": "code", "redirect_uri": e.srv.URL + "/oauth/callback"}
			for k, v := range wantAuthz {
				if got := authz.Get(k); got != v {
					t.Errorf("authorize %s = %q, want %q", k, got, v)
				}
			}
			if authz.Get("state") == "evil" {
				t.Error("authorizeParams overrode state")
			}

			if got := final.Scheme + "://" + final.Host + final.Path; got != appRedirect {
				t.Fatalf("redirected to %s", final)
			}
			credID := final.Query().Get("credentialId")
			wantQ := url.Values{"tenant": {"7"}, "status": {"success"}, "credentialId": {credID}, "connectorId": {tt.connector}}
			if diff := cmp.Diff(wantQ, final.Query()); diff != "" {
				t.Errorf("redirect query (-want +got):\n%s", diff)
			}
			if !patchbay.ValidCredentialID(credID) {
				t.Fatalf("credentialId %q", credID)
			}
			if !strings.HasSuffix(final.RawQuery, "&status=success&credentialId="+credID+"&connectorId="+tt.connector) || !strings.HasPrefix(final.RawQuery, "tenant=7&") {
				t.Errorf("parameters not appended in order: %s", final.RawQuery)
			}

			c := e.findCredential(accountA, userA, credID)
			want := credView{ConnectorID: tt.connector, Name: e.catalogName(tt.connector), AuthType: patchbay.AuthOAuth2, Status: patchbay.CredentialActive,
				Config: map[string]string{"region": "eu"}, Scopes: []string{"contacts.read", "deals.write"}, ExpiresAt: tp(e.clock.Now().Add(time.Hour))}
			if diff := cmp.Diff(want, view(c)); diff != "" {
				t.Errorf("credential (-want +got):\n%s", diff)
			}

			src := e.m.Source(c, "", "")
			mat, err := src.Material(ctx)
			if err != nil {
				t.Fatal(err)
			}
			first := mat.AccessToken.Reveal()
			if mat.AuthType != patchbay.AuthOAuth2 || mat.CredentialID != credID || e.prov.callPlatform(t, first) != http.StatusOK {
				t.Fatalf("material does not work: %+v", mat)
			}
			if got := e.prov.refreshRequests.Load(); got != 0 {
				t.Fatalf("refreshed a fresh token (%d)", got)
			}

			// Within the 60 s window before expiry: refreshed before use.
			e.clock.Advance(time.Hour - 30*time.Second)
			mat, err = src.Material(ctx)
			if err != nil {
				t.Fatal(err)
			}
			second := mat.AccessToken.Reveal()
			if second == first || e.prov.refreshRequests.Load() != 1 || e.prov.callPlatform(t, second) != http.StatusOK {
				t.Fatalf("not refreshed: same=%v refreshes=%d", second == first, e.prov.refreshRequests.Load())
			}
			// Expired: the rotated refresh token was stored, so this works too.
			e.clock.Advance(2 * time.Hour)
			if e.prov.callPlatform(t, second) != http.StatusUnauthorized {
				t.Fatal("platform accepts an expired token")
			}
			mat, err = src.Material(ctx)
			if err != nil {
				t.Fatalf("second refresh: %v", err)
			}
			if e.prov.refreshRequests.Load() != 2 || e.prov.callPlatform(t, mat.AccessToken.Reveal()) != http.StatusOK {
				t.Fatalf("second refresh did not produce a working token")
			}
			// A 401 upstream: Refresh gets yet another token.
			mat2, err := src.Refresh(ctx, mat)
			if err != nil || mat2.AccessToken.Reveal() == mat.AccessToken.Reveal() || e.prov.refreshRequests.Load() != 3 {
				t.Fatalf("refresh after 401: %v", err)
			}

			// The user disconnects the app at the provider.
			e.prov.revokeAll()
			e.clock.Advance(2 * time.Hour)
			_, err = src.Material(ctx)
			e.noLeak("material error", err.Error())
			if patchbay.ErrorCode(err) != patchbay.ECredentialNotFound || patchbay.ErrorMessage(err) != "Credential not found" {
				t.Fatalf("after revocation: %v", err)
			}
			d := errDetails(err)
			reauthURL, _ := d["oauthUrl"].(string)
			if d["reason"] != "needs_reauth" || d["credentialId"] != credID || !strings.HasPrefix(reauthURL, e.srv.URL+"/oauth/start/") ||
				d["oauthUrlExpiresAt"] != e.clock.Now().Add(10*time.Minute).UTC().Format(time.RFC3339) {
				t.Fatalf("details = %v", d)
			}
			if got := e.findCredential(accountA, userA, credID).Status; got != patchbay.CredentialNeedsReauth {
				t.Fatalf("status %s", got)
			}
			if ev := e.auditEvents(accountA, "credential.refresh_failed"); len(ev) != 1 || ev[0].Details["reason"] != "invalid_grant" || ev[0].CredentialID != credID {
				t.Errorf("refresh_failed events: %+v", ev)
			}

			// Reconnect through the link: same credential, active again.
			final = connect(t, b, reauthURL)
			if final.Query().Get("status") != "success" || final.Query().Get("credentialId") != credID || final.Path != "/oauth/done" {
				t.Fatalf("reconnect ended at %s", final)
			}
			c = e.findCredential(accountA, userA, credID)
			if c.Status != patchbay.CredentialActive || c.Config["region"] != "eu" {
				t.Fatalf("after reconnect: %+v", view(c))
			}
			mat, err = e.m.Source(c, "", "").Material(ctx)
			if err != nil || e.prov.callPlatform(t, mat.AccessToken.Reveal()) != http.StatusOK {
				t.Fatalf("material after reconnect: %v", err)
			}

			var changes []string
			for _, ev := range e.auditEvents(accountA, "credential.status_changed") {
				changes = append(changes, ev.Details["from"].(string)+">"+ev.Details["to"].(string))
			}
			slices.Sort(changes) // same clock instant: the log's order is by random ID
			if diff := cmp.Diff([]string{"active>needs_reauth", "needs_reauth>active"}, changes); diff != "" {
				t.Errorf("status changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff("success\nsuccess\nsuccess\nneeds_reauth\n", e.outcomes.String()); diff != "" {
				t.Errorf("refresh outcomes (-want +got):\n%s", diff)
			}
			for _, typ := range []string{"oauth.flow_started", "oauth.flow_completed", "credential.created", "credential.refreshed"} {
				if len(e.auditEvents(accountA, typ)) == 0 {
					t.Errorf("no %s audit event", typ)
				}
			}
		})
	}
}

func (e *env) catalogName(id string) string {
	c, err := e.catalog.Connector(context.Background(), accountA, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Name
}

func (e *env) createServer(id, name string) {
	e.t.Helper()
	if err := e.db.CreateServer(context.Background(), &patchbay.Server{ID: id, AccountID: accountA, OwnerID: userA, Name: name,
		Mode: patchbay.ModeConnectivity, TokenHash: []byte(id), TokenSealed: []byte{1}, TokenExpiresAt: e.clock.Now().Add(time.Hour),
		CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

var formRE = regexp.MustCompile(`<form[^>]*>`)

func TestStartLinkPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.createServer("support-bot-4bacaec6", `Support <b>bot</b>`)
	r := startReq("acme-crm")
	r.ServerID, r.Bind = "support-bot-4bacaec6", true
	oauthURL := e.start(r)
	flowID := strings.TrimPrefix(oauthURL, e.srv.URL+"/oauth/start/")
	b := newBrowser(t)

	p := b.get(oauthURL)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	wantHeaders := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + e.prov.srv.URL + "; frame-ancestors 'none'",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for k, v := range wantHeaders {
		if got := p.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	forms := formRE.FindAllString(p.body, -1)
	if diff := cmp.Diff([]string{`<form method="post" action="/oauth/start/` + flowID + `">`}, forms); diff != "" {
		t.Errorf("forms (-want +got):\n%s", diff)
	}
	for _, want := range []string{"Acme CRM", "cus***", "Support &lt;b&gt;bot&lt;/b&gt;", "Continue to Acme CRM"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{userA, "<b>bot"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	csrf := csrfOf(t, p.body)
	if len(csrf) != 43 || b.cookie(e.srv.URL, "pb_oauth_csrf") != csrf {
		t.Fatalf("csrf %q vs cookie %q", csrf, b.cookie(e.srv.URL, "pb_oauth_csrf"))
	}
	if sc := p.header.Get("Set-Cookie"); sc != "pb_oauth_csrf="+csrf+"; Path=/; Max-Age=600; HttpOnly; SameSite=Strict" {
		t.Errorf("Set-Cookie = %q", sc)
	}
	// GET does not consume: a link preview does no harm.
	p2 := b.get(oauthURL)
	if p2.status != http.StatusOK {
		t.Fatalf("second GET: %d", p2.status)
	}

	tests := []struct {
		name   string
		form   url.Values
		cookie string // "" leaves the jar's cookie; "-" removes it
		want   int
	}{
		{name: "MissingCSRF", form: url.Values{}, want: http.StatusForbidden},
		{name: "DifferentCSRF", form: url.Values{"csrf": {strings.Repeat("A", 43)}}, want: http.StatusForbidden},
		{name: "MissingCookie", form: url.Values{"csrf": {"x"}}, cookie: "-", want: http.StatusForbidden},
		{name: "CookieOnlyMatchesOtherValue", form: url.Values{"csrf": {"y"}}, cookie: "x", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			p := b.get(oauthURL)
			switch tt.cookie {
			case "-":
				b.setCookie(e.srv.URL, "pb_oauth_csrf", "")
			case "":
			default:
				b.setCookie(e.srv.URL, "pb_oauth_csrf", tt.cookie)
			}
			if tt.form.Get("csrf") == "x" && tt.cookie == "-" {
				tt.form.Set("csrf", csrfOf(t, p.body))
			}
			got := b.post(oauthURL, tt.form)
			if got.status != tt.want || got.location() != "" {
				t.Fatalf("status %d location %q", got.status, got.location())
			}
		})
	}

	// Still unconsumed: the right token works, once.
	p = b.get(oauthURL)
	csrf = csrfOf(t, p.body)
	ok := b.post(oauthURL, url.Values{"csrf": {csrf}, "other": {"ignored"}})
	if ok.status != http.StatusSeeOther || !strings.HasPrefix(ok.location(), e.prov.url("/authorize?")) {
		t.Fatalf("confirm: %d %s", ok.status, ok.location())
	}
	if ok.header.Get("Cache-Control") != "no-store" || ok.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("303 headers: %v", ok.header)
	}
	loc, _ := url.Parse(ok.location())
	state := loc.Query().Get("state")
	cookies := ok.header.Values("Set-Cookie")
	wantCookies := []string{"pb_oauth_csrf=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict", "pb_oauth=" + state + "; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"}
	if diff := cmp.Diff(wantCookies, cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	if len(state) != 43 {
		t.Errorf("state %q", state)
	}
	if got := b.post(oauthURL, url.Values{"csrf": {csrf}}); got.status != http.StatusGone {
		t.Errorf("second POST: %d", got.status)
	}
	if got := b.get(oauthURL); got.status != http.StatusGone {
		t.Errorf("GET after use: %d", got.status)
	}

	t.Run("Expired", func(t *testing.T) {
		u := e.start(startReq("acme-crm"))
		b := newBrowser(t)
		p := b.get(u)
		e.clock.Advance(10*time.Minute + time.Second)
		if got := b.get(u); got.status != http.StatusGone || got.location() != "" {
			t.Errorf("GET: %d", got.status)
		}
		if got := b.post(u, url.Values{"csrf": {csrfOf(t, p.body)}}); got.status != http.StatusGone {
			t.Errorf("POST: %d", got.status)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		for _, id := range []string{strings.Repeat("a", 32), "short", strings.Repeat("a", 31) + "!", "../../done"} {
			u := e.srv.URL + "/oauth/start/" + url.PathEscape(id)
			if got := b.get(u); got.status != http.StatusNotFound {
				t.Errorf("GET %s: %d", id, got.status)
			}
			if got := b.post(u, url.Values{"csrf": {"x"}}); got.status != http.StatusNotFound {
				t.Errorf("POST %s: %d", id, got.status)
			}
		}
	})
	t.Run("FormFlowIsNotAStartLink", func(t *testing.T) {
		u, _, err := e.m.StartForm(context.Background(), oauth.FlowRequest{AccountID: accountA, UserID: userA, ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey})
		if err != nil {
			t.Fatal(err)
		}
		id := u[strings.LastIndex(u, "/")+1:]
		if got := b.get(e.srv.URL + "/oauth/start/" + id); got.status != http.StatusNotFound {
			t.Errorf("status %d", got.status)
		}
	})
}

// TestCookiesOverHTTPS checks the __Host- cookies of an https public URL.
func TestCookiesOverHTTPS(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := oauth.New(e.db, e.vault, e.catalog, &oauth.Options{PublicURL: "https://patchbay.example.com", Now: e.clock.Now})
	u, _, err := m.StartOAuth(context.Background(), startReq("acme-crm"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(u, "https://patchbay.example.com")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	csrf := csrfOf(t, rec.Body.String())
	if got, want := rec.Header().Get("Set-Cookie"), "__Host-pb_oauth_csrf="+csrf+"; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Strict"; got != want {
		t.Errorf("GET Set-Cookie = %q, want %q", got, want)
	}
	// The plain-http cookie name is not accepted over https.
	post := func(cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("csrf="+csrf))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie+"="+csrf)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, req)
		return rec
	}
	if rec := post("pb_oauth_csrf"); rec.Code != http.StatusForbidden {
		t.Fatalf("http cookie over https: %d", rec.Code)
	}
	rec = post("__Host-pb_oauth_csrf")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if loc.Query().Get("redirect_uri") != "https://patchbay.example.com/oauth/callback" {
		t.Errorf("redirect_uri %q", loc.Query().Get("redirect_uri"))
	}
	want := []string{"__Host-pb_oauth_csrf=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
		"__Host-pb_oauth=" + loc.Query().Get("state") + "; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax"}
	if diff := cmp.Diff(want, rec.Header().Values("Set-Cookie")); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
}

// consented runs a flow up to the provider's redirect to the callback.
func (e *env) consented(b *browser, r oauth.FlowRequest) string {
	e.t.Helper()
	toProvider := startLink(e.t, b, e.start(r))
	consent := b.get(toProvider.location())
	if consent.status != http.StatusFound {
		e.t.Fatalf("authorize: %d %s", consent.status, consent.body)
	}
	return consent.location()
}

func TestCallbackFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/token"
	closed.Close()

	tests := []struct {
		name     string
		setup    func(e *env)
		mutate   func(callback string) string
		wantErr  string
		wantDesc string
	}{
		{name: "AccessDenied", setup: func(e *env) { e.prov.setDeny(true) }, wantErr: "access_denied", wantDesc: "The user said no"},
		{name: "TokenEndpoint500", setup: func(e *env) {
			e.prov.setFail(func(string) (int, string) { return 500, `{"error":"server_error"}` })
		}, wantErr: "token_exchange_failed", wantDesc: "The token endpoint answered HTTP 500 (server_error)"},
		{name: "InvalidGrant", setup: func(e *env) {
			e.prov.setFail(func(string) (int, string) {
				return 400, `{"error":"invalid_grant","error_description":"code ` + clientSecret + `"}`
			})
		}, wantErr: "token_exchange_failed", wantDesc: "The token endpoint answered HTTP 400 (invalid_grant)"},
		{name: "NoAccessToken", setup: func(e *env) {
			e.prov.setFail(func(string) (int, string) { return 200, `{"token_type":"Bearer"}` })
		}, wantErr: "token_exchange_failed", wantDesc: "The token endpoint could not be reached or sent an invalid answer"},
		{name: "HTMLAnswer", setup: func(e *env) {
			e.prov.setFail(func(string) (int, string) { return 502, `<html>bad gateway</html>` })
		}, wantErr: "token_exchange_failed", wantDesc: "The token endpoint answered HTTP 502"},
		{name: "Unreachable", setup: func(e *env) {
			c, _ := e.catalog.Connector(context.Background(), accountA, "acme-crm")
			c.Auth[0].TokenURL = closedURL
		}, wantErr: "token_exchange_failed", wantDesc: "The token endpoint could not be reached or sent an invalid answer"},
		{name: "NoCode", mutate: func(cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Del("code")
			u.RawQuery = q.Encode()
			return u.String()
		}, wantErr: "invalid_request", wantDesc: "The provider sent no authorization code"},
		{name: "ProviderErrorIsSanitized", mutate: func(cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("error", "bad\r\n<script>")
			q.Set("error_description", "line\nbreak \"quoted\" é")
			u.RawQuery = q.Encode()
			return u.String()
		}, wantErr: "bad<script>", wantDesc: "linebreak quoted "},
		{name: "AppDeletedMeanwhile", setup: func(e *env) {}, mutate: nil, wantErr: "oauth_app_not_configured", wantDesc: "No OAuth app is configured for this connector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			if tt.setup != nil {
				tt.setup(e)
			}
			b := newBrowser(t)
			cb := e.consented(b, startReq("acme-crm"))
			if tt.name == "AppDeletedMeanwhile" {
				if _, err := e.db.DeleteOAuthApp(context.Background(), accountA, "acme-crm"); err != nil {
					t.Fatal(err)
				}
			}
			if tt.mutate != nil {
				cb = tt.mutate(cb)
			}
			p := b.get(cb)
			if p.status != http.StatusFound {
				t.Fatalf("callback: %d\n%s", p.status, p.body)
			}
			u, _ := url.Parse(p.location())
			if got := u.Scheme + "://" + u.Host + u.Path; got != appRedirect {
				t.Fatalf("redirected to %s", u)
			}
			want := url.Values{"tenant": {"7"}, "status": {"error"}, "error": {tt.wantErr}, "error_description": {tt.wantDesc}, "connectorId": {"acme-crm"}}
			if diff := cmp.Diff(want, u.Query()); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if ev := e.auditEvents(accountA, "oauth.flow_failed"); len(ev) != 1 || ev[0].Details["error"] != tt.wantErr || ev[0].Outcome != patchbay.OutcomeFailure {
				t.Errorf("flow_failed events: %+v", ev)
			}
			if creds, n, _ := e.db.ListCredentials(context.Background(), accountA, userA, patchbay.CredentialFilter{}); n != 0 {
				t.Errorf("credentials stored: %v", creds)
			}
			if sc := p.header.Get("Set-Cookie"); sc != "pb_oauth=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" {
				t.Errorf("state cookie not cleared: %q", sc)
			}
		})
	}
}

// TestCallbackRejects: a callback that cannot be tied to a live flow and
// this browser is a 400 page, never a redirect.
func TestCallbackRejects(t *testing.T) {
	tests := []struct {
		name string
		// prepare gets the real callback URL and may change it and the
		// browser; it returns the URL to open.
		prepare      func(e *env, b *browser, cb string) string
		stillWorking bool // the real callback still succeeds afterwards
	}{
		{name: "UnknownState", prepare: func(e *env, b *browser, cb string) string {
			b.setCookie(e.srv.URL, "pb_oauth", strings.Repeat("s", 43))
			return withQuery(cb, "state", strings.Repeat("s", 43))
		}},
		{name: "NoState", prepare: func(e *env, b *browser, cb string) string { return withQuery(cb, "state", "") }, stillWorking: true},
		{name: "MissingCookie", prepare: func(e *env, b *browser, cb string) string {
			b.setCookie(e.srv.URL, "pb_oauth", "")
			return cb
		}},
		{name: "DifferentCookie", prepare: func(e *env, b *browser, cb string) string {
			b.setCookie(e.srv.URL, "pb_oauth", strings.Repeat("d", 43))
			return cb
		}},
		{name: "Reused", prepare: func(e *env, b *browser, cb string) string {
			state := mustQuery(cb).Get("state")
			if p := b.get(cb); p.status != http.StatusFound {
				e.t.Fatalf("first callback %d", p.status)
			}
			b.setCookie(e.srv.URL, "pb_oauth", state)
			return cb
		}},
		{name: "Expired", prepare: func(e *env, b *browser, cb string) string {
			e.clock.Advance(10*time.Minute + time.Second)
			return cb
		}},
		{name: "ErrorWithoutState", prepare: func(e *env, b *browser, cb string) string {
			return e.srv.URL + "/oauth/callback?error=access_denied"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			b := newBrowser(t)
			cb := e.consented(b, startReq("acme-crm"))
			state := mustQuery(cb).Get("state")
			p := b.get(tt.prepare(e, b, cb))
			if p.status != http.StatusBadRequest || p.location() != "" || !strings.Contains(p.body, "Sign-in not completed") {
				t.Fatalf("status %d location %q", p.status, p.location())
			}
			if p.header.Get("Cache-Control") != "no-store" || p.header.Get("Content-Security-Policy") == "" {
				t.Errorf("headers %v", p.header)
			}
			if tt.stillWorking || tt.name == "MissingCookie" || tt.name == "DifferentCookie" {
				b.setCookie(e.srv.URL, "pb_oauth", state)
				if p := b.get(cb); p.status != http.StatusFound || mustQuery(p.location()).Get("status") != "success" {
					t.Fatalf("real callback afterwards: %d %s", p.status, p.location())
				}
			}
		})
	}
}

func withQuery(u, k, v string) string {
	p, _ := url.Parse(u)
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

func mustQuery(u string) url.Values {
	p, _ := url.Parse(u)
	return p.Query()
}

// TestRedirectNotAllowed: a redirect URI outside §13.3 is refused before a
// flow exists or a provider is contacted.
func TestRedirectNotAllowed(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name    string
		uri     string
		allowed bool
	}{
		{name: "OtherHost", uri: "https://evil.example/integrations/callback"},
		{name: "Fragment", uri: appRedirect + "#x"},
		{name: "Userinfo", uri: "https://user@app.example.com/integrations/callback"},
		{name: "LongerPath", uri: appRedirect + "/x"},
		{name: "OtherScheme", uri: "http://app.example.com/integrations/callback"},
		{name: "OtherPort", uri: "https://app.example.com:8443/integrations/callback"},
		{name: "Relative", uri: "/integrations/callback"},
		{name: "JavaScript", uri: "javascript:alert(1)"},
		{name: "SchemeRelative", uri: "//evil.example/integrations/callback"},
		{name: "TooLong", uri: appRedirect + "?q=" + strings.Repeat("a", 2048)},
		{name: "AddedQuery", uri: appRedirect + "?a=1", allowed: true},
		{name: "HostCase", uri: "https://APP.example.com/integrations/callback", allowed: true},
		{name: "ExplicitPort", uri: "https://app.example.com:443/integrations/callback", allowed: true},
		{name: "Loopback", uri: "http://localhost:5173/cb", allowed: true},
		{name: "DonePage", uri: e.srv.URL + "/oauth/done", allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.auditEvents(accountA, "oauth.flow_started"))
			r := startReq("acme-crm")
			r.RedirectURI = tt.uri
			_, _, errOAuth := e.m.StartOAuth(context.Background(), r)
			_, _, errForm := e.m.StartForm(context.Background(), oauth.FlowRequest{AccountID: accountA, UserID: userA,
				ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey, RedirectURI: tt.uri})
			for _, err := range []error{errOAuth, errForm} {
				if tt.allowed {
					if err != nil {
						t.Errorf("refused: %v", err)
					}
					continue
				}
				if patchbay.ErrorCode(err) != patchbay.EInvalid || reason(err) != "redirect_uri_not_allowed" || errDetails(err)["field"] != "redirectUri" {
					t.Errorf("err = %v %v", err, errDetails(err))
				}
			}
			if !tt.allowed && len(e.auditEvents(accountA, "oauth.flow_started")) != before {
				t.Error("a flow was started")
			}
		})
	}
	if e.prov.tokenRequests.Load() != 0 || e.prov.lastAuthorize() != nil {
		t.Error("the provider was contacted")
	}
}

func TestStartOAuthValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	other := e.connectNew(startReq("acme-crm"))
	tests := []struct {
		name       string
		edit       func(r *oauth.FlowRequest)
		wantCode   string
		wantReason string
		wantField  string
	}{
		{name: "UnknownConnector", edit: func(r *oauth.FlowRequest) { r.ConnectorID = "nope" }, wantCode: patchbay.EConnectorNotFound},
		{name: "NoAuth", edit: func(r *oauth.FlowRequest) { r.ConnectorID = "no-auth" }, wantCode: patchbay.EInvalid, wantReason: "connector_has_no_auth"},
		{name: "NoOAuthScheme", edit: func(r *oauth.FlowRequest) { r.ConnectorID = "bearer-only"; r.Fields = nil },
			wantCode: patchbay.EInvalid, wantReason: "unsupported_authentication_type"},
		{name: "NoApp", edit: func(r *oauth.FlowRequest) { r.ConnectorID = "no-app" }, wantCode: patchbay.EInvalid, wantReason: "oauth_app_not_configured"},
		{name: "MissingField", edit: func(r *oauth.FlowRequest) { r.Fields = nil }, wantCode: patchbay.EInvalid, wantReason: "missing_field", wantField: "region"},
		{name: "UnknownField", edit: func(r *oauth.FlowRequest) { r.Fields["apiKey"] = "k" }, wantCode: patchbay.EInvalid, wantReason: "unknown_field", wantField: "apiKey"},
		{name: "BadEnum", edit: func(r *oauth.FlowRequest) { r.Fields["region"] = "mars" }, wantCode: patchbay.EInvalid, wantReason: "invalid_value", wantField: "region"},
		{name: "LongName", edit: func(r *oauth.FlowRequest) { r.Name = strings.Repeat("n", 101) }, wantCode: patchbay.EInvalid, wantField: "name"},
		{name: "ReconnectOtherUser", edit: func(r *oauth.FlowRequest) { r.UserID = userB; r.CredentialID = other.ID },
			wantCode: patchbay.ECredentialNotFound, wantReason: "missing"},
		{name: "ReconnectOtherAccount", edit: func(r *oauth.FlowRequest) { r.AccountID = accountB; r.CredentialID = other.ID },
			wantCode: patchbay.ECredentialNotFound, wantReason: "missing"},
		{name: "ReconnectOtherConnector", edit: func(r *oauth.FlowRequest) { r.ConnectorID = "acme-post"; r.CredentialID = other.ID },
			wantCode: patchbay.ECredentialNotFound, wantReason: "missing"},
		{name: "Valid"},
		{name: "ReconnectNeedsNoFields", edit: func(r *oauth.FlowRequest) { r.CredentialID = other.ID; r.Fields = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startReq("acme-crm")
			if tt.edit != nil {
				tt.edit(&r)
			}
			_, _, err := e.m.StartOAuth(ctx, r)
			if patchbay.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want code %q", err, tt.wantCode)
			}
			if tt.wantReason != "" && reason(err) != tt.wantReason {
				t.Errorf("reason = %v, want %s", reason(err), tt.wantReason)
			}
			if tt.wantField != "" && errDetails(err)["field"] != tt.wantField {
				t.Errorf("field = %v, want %s", errDetails(err)["field"], tt.wantField)
			}
		})
	}
}

// TestProviderExtras: Salesforce-style instance_url fills the base URL
// placeholder; the instance-wide app is used when the account has none; a
// token answer without scope means the requested scopes.
func TestProviderExtras(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.prov.mu.Lock()
	e.prov.extras = map[string]any{"instance_url": "https://Acme-Real.my.sales.example", "id": "https://login.sales.example/id/1"}
	e.prov.noScope = true
	e.prov.mu.Unlock()
	r := startReq("sales")
	r.Fields = map[string]string{"instance": "typed"}
	r.RedirectURI = ""
	c := e.connectNew(r)
	want := credView{ConnectorID: "sales", Name: "Sales <Cloud>", AuthType: patchbay.AuthOAuth2, Status: patchbay.CredentialActive,
		Config: map[string]string{"instance": "acme-real"}, Scopes: []string{"api", "refresh_token"}, ExpiresAt: tp(e.clock.Now().Add(time.Hour))}
	if diff := cmp.Diff(want, view(c)); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	if got := e.prov.lastAuthorize().Get("client_id"); got != "instance-client" {
		t.Errorf("client_id %q", got)
	}
}

func TestDonePage(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name, query, want string
	}{
		{name: "Success", query: "status=success&credentialId=cred_x", want: "Connected, you can close this window."},
		{name: "Error", query: "status=error&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E", want: "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{name: "ErrorCodeOnly", query: "status=error&error=access_denied", want: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newBrowser(t).get(e.srv.URL + "/oauth/done?" + tt.query)
			if p.status != http.StatusOK || !strings.Contains(p.body, tt.want) || strings.Contains(p.body, "<script>") {
				t.Errorf("status %d body\n%s", p.status, p.body)
			}
			if got := p.header.Get("Content-Security-Policy"); got != "default-src 'none'; style-src 'unsafe-inline'" {
				t.Errorf("CSP %q", got)
			}
		})
	}
}

// TestReconnectOfDeletedCredential: the credential went away while the user
// was at the provider; the flow ends with an error, nothing half-configured
// is stored.
func TestReconnectOfDeletedCredential(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.connectNew(startReq("acme-crm"))
	u, _, err := e.m.Reauth(ctx, c, appRedirect, "")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	toProvider := startLink(t, b, u)
	consent := b.get(toProvider.location())
	if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); err != nil {
		t.Fatal(err)
	}
	p := b.get(consent.location())
	want := appRedirect + "?status=error&error=credential_not_found&error_description=The+credential+to+reconnect+no+longer+exists&connectorId=acme-crm"
	if p.status != http.StatusFound || p.location() != want {
		t.Fatalf("%d %s", p.status, p.location())
	}
	if _, n, _ := e.db.ListCredentials(ctx, accountA, userA, patchbay.CredentialFilter{}); n != 0 {
		t.Errorf("%d credentials", n)
	}
}
