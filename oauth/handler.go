package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/ids"
)

// Cookie base names; over https they carry the __Host- prefix (§13.2).
const (
	csrfCookie  = "pb_oauth_csrf"
	stateCookie = "pb_oauth"
	cookieAge   = 600
	maxFormBody = 1 << 20
)

const cspPage = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

// Handler serves the browser face: GET/POST /oauth/start/{flowId}, GET
// /oauth/callback, GET/POST /oauth/form/{flowId} and GET /oauth/done. It
// never logs query strings (§17.2).
func (m *Manager) Handler() http.Handler { return m.mux }

func (m *Manager) routes() *http.ServeMux {
	mux := http.NewServeMux()
	m.handle(mux, "GET /oauth/start/{flowId}", m.startPage)
	m.handle(mux, "POST /oauth/start/{flowId}", m.startSubmit)
	m.handle(mux, "GET /oauth/callback", m.callback)
	m.handle(mux, "GET /oauth/form/{flowId}", m.formPage)
	m.handle(mux, "POST /oauth/form/{flowId}", m.formSubmit)
	m.handle(mux, "GET /oauth/done", m.done)
	return mux
}

func (m *Manager) logFailure(ctx context.Context, route string, err error) {
	m.log.ErrorContext(ctx, "oauth: request failed", "route", route, "request_id", frontdoor.RequestID(ctx), "error", err.Error())
}

func (m *Manager) handle(mux *http.ServeMux, pattern string, fn func(http.ResponseWriter, *http.Request) error) {
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frontdoor.InfoFrom(r.Context()).SetRoute(pattern)
		if err := fn(w, r); err != nil {
			m.logFailure(r.Context(), pattern, err)
			m.message(w, http.StatusInternalServerError)
		}
	}))
}

// Message pages, by status.
var messages = map[int]messagePage{
	http.StatusNotFound:            {"Link not found", "This link is not valid. Ask for a new one."},
	http.StatusGone:                {"Link expired", "This link has expired or was already used. Ask for a new one."},
	http.StatusForbidden:           {"Could not verify this request", "Your browser session could not be verified. Open the link again."},
	http.StatusBadRequest:          {"Sign-in not completed", "This sign-in attempt is not valid, has expired or was already used. Start again from the application."},
	http.StatusInternalServerError: {"Something went wrong", "The request could not be completed. Try again later."},
}

func pageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (m *Manager) message(w http.ResponseWriter, status int) {
	m.render(w, status, cspPage, "message", messages[status])
}

func (m *Manager) render(w http.ResponseWriter, status int, csp, name string, data any) {
	var buf bytes.Buffer
	if err := m.pages.ExecuteTemplate(&buf, name, data); err != nil {
		m.log.Error("oauth: render page", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header(), csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect sends the browser on with no-store and no-referrer: the query
// carries a code or a result.
func redirect(w http.ResponseWriter, status int, location string) {
	h := w.Header()
	h.Set("Location", location)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
}

func (m *Manager) cookieName(base string) string {
	if m.secure {
		return "__Host-" + base
	}
	return base
}

func (m *Manager) setCookie(w http.ResponseWriter, base, value string, sameSite http.SameSite) {
	maxAge := cookieAge
	if value == "" {
		maxAge = -1 // Max-Age=0: delete
	}
	http.SetCookie(w, &http.Cookie{Name: m.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: m.secure, SameSite: sameSite})
}

// cookieMatches compares a cookie with a submitted value in constant time;
// a missing cookie or value never matches.
func (m *Manager) cookieMatches(r *http.Request, base, value string) bool {
	c, err := r.Cookie(m.cookieName(base))
	if err != nil || c.Value == "" || value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(value)) == 1
}

// loadFlow finds the flow of the path for a link page: 0 and the flow, or
// the status of §13.2 (404 unknown, 410 expired or used).
func (m *Manager) loadFlow(r *http.Request, kind string) (*patchbay.Flow, int, error) {
	id := r.PathValue("flowId")
	if !patchbay.ValidBase62(id, "", 32) {
		return nil, http.StatusNotFound, nil
	}
	f, err := m.stores.FindFlow(r.Context(), id)
	if patchbay.IsCode(err, patchbay.ENotFound) {
		return nil, http.StatusNotFound, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if f.Kind != kind {
		return nil, http.StatusNotFound, nil
	}
	frontdoor.InfoFrom(r.Context()).SetAccount(f.AccountID, f.ServerID)
	if f.ConsumedAt != nil || !m.now().Before(f.ExpiresAt) {
		return nil, http.StatusGone, nil
	}
	return f, 0, nil
}

// consume marks the flow used; a lost race is 404 or 410 like loadFlow.
func (m *Manager) consume(ctx context.Context, id string, stateHash []byte) (*patchbay.Flow, int, error) {
	f, err := m.stores.ConsumeFlow(ctx, id, stateHash, m.now())
	switch {
	case err == nil:
		return f, 0, nil
	case patchbay.IsCode(err, patchbay.ENotFound):
		return nil, http.StatusNotFound, nil
	case patchbay.IsCode(err, patchbay.EConflict):
		return nil, http.StatusGone, nil
	}
	return nil, 0, err
}

func (m *Manager) pageInfo(ctx context.Context, f *patchbay.Flow, conn *patchbay.Connector) pageInfo {
	p := pageInfo{ConnectorName: conn.Name, MaskedUser: maskUser(f.UserID), FlowID: f.ID}
	if f.ServerID != "" {
		if s, err := m.stores.FindServer(ctx, f.ServerID); err == nil && s.AccountID == f.AccountID {
			p.ServerName = s.Name
		}
	}
	return p
}

// originRE accepts what a CSP source expression may safely contain.
var originRE = regexp.MustCompile(`^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// origin is scheme://host[:port] of u, or "" when it is unusable in a CSP.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	o := strings.ToLower(p.Scheme) + "://" + p.Host
	if !originRE.MatchString(o) {
		return ""
	}
	return o
}

// formCSP lets the page post to itself and follow the 303 to target's origin.
func formCSP(target string) string {
	o := origin(target)
	if o != "" {
		o = " " + o
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" + o + "; frame-ancestors 'none'"
}

func (m *Manager) oauthConnector(ctx context.Context, f *patchbay.Flow) (*patchbay.Connector, *patchbay.AuthScheme, bool) {
	conn, err := m.connectors.Connector(ctx, f.AccountID, f.ConnectorID)
	if err != nil {
		return nil, nil, false
	}
	s := conn.Scheme(patchbay.AuthOAuth2)
	return conn, s, s != nil
}

// startPage serves GET /oauth/start/{flowId}: the confirmation page. It
// does not consume the flow, so link previews do no harm.
func (m *Manager) startPage(w http.ResponseWriter, r *http.Request) error {
	f, status, err := m.loadFlow(r, patchbay.FlowOAuth)
	if err != nil {
		return err
	}
	if status != 0 {
		m.message(w, status)
		return nil
	}
	conn, scheme, ok := m.oauthConnector(r.Context(), f)
	if !ok {
		m.message(w, http.StatusNotFound)
		return nil
	}
	p := m.pageInfo(r.Context(), f, conn)
	p.CSRF = ids.Token43(m.random)
	m.setCookie(w, csrfCookie, p.CSRF, http.SameSiteStrictMode)
	m.render(w, http.StatusOK, formCSP(scheme.AuthorizationURL), "confirm", p)
	return nil
}

// parsePost reads the urlencoded body (bounded) into r.PostForm.
func parsePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	_ = r.ParseForm() // a bad body leaves csrf empty: 403
}

// submittedFlow loads the flow a POST names and checks its CSRF token. It
// returns nil when the request has been answered (or err is to be).
func (m *Manager) submittedFlow(w http.ResponseWriter, r *http.Request, kind string) (*patchbay.Flow, error) {
	f, status, err := m.loadFlow(r, kind)
	if err != nil {
		return nil, err
	}
	if status != 0 {
		m.message(w, status)
		return nil, nil
	}
	parsePost(w, r)
	if !m.cookieMatches(r, csrfCookie, r.PostForm.Get("csrf")) {
		m.message(w, http.StatusForbidden)
		return nil, nil
	}
	return f, nil
}

// startSubmit serves POST /oauth/start/{flowId}: CSRF check, single use,
// then 303 to the provider with state and the PKCE challenge.
func (m *Manager) startSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := m.submittedFlow(w, r, patchbay.FlowOAuth)
	if f == nil {
		return err
	}
	conn, scheme, ok := m.oauthConnector(ctx, f)
	if !ok {
		m.message(w, http.StatusNotFound)
		return nil
	}
	sec, err := m.openFlow(ctx, f)
	if err != nil {
		return err
	}
	a, appErr := m.resolveApp(ctx, f.AccountID, conn.ID, scheme, false)
	if appErr != nil && !patchbay.IsCode(appErr, patchbay.EInvalid) {
		return appErr
	}
	state := ids.Token43(m.random)
	sum := sha256.Sum256([]byte(state))
	f, status, err := m.consume(ctx, f.ID, sum[:])
	if err != nil {
		return err
	}
	if status != 0 {
		m.message(w, status)
		return nil
	}
	m.setCookie(w, csrfCookie, "", http.SameSiteStrictMode)
	if appErr != nil {
		// The app went away after the link was made: end at the redirect URI.
		m.flowFailed(ctx, f, "oauth_app_not_configured")
		redirect(w, http.StatusSeeOther, withResult(f.RedirectURI, "status", "error", "error", "oauth_app_not_configured",
			"error_description", "No OAuth app is configured for this connector", "connectorId", f.ConnectorID))
		return nil
	}
	m.setCookie(w, stateCookie, state, http.SameSiteLaxMode)
	redirect(w, http.StatusSeeOther, m.authorizeURL(scheme, a, state, sec.Verifier))
	return nil
}

// openFlow opens the flow's sealed verifier (and secret extra fields).
func (m *Manager) openFlow(ctx context.Context, f *patchbay.Flow) (*flowSecret, error) {
	pt, err := m.sealer.Open(ctx, f.AccountID, f.ID, f.VerifierSealed)
	if err != nil {
		return nil, errUndecryptableFlow
	}
	defer clear(pt)
	var s flowSecret
	if err := json.Unmarshal(pt, &s); err != nil || s.Verifier == "" {
		return nil, errUndecryptableFlow
	}
	return &s, nil
}

var errReconnectGone = errors.New("credential to reconnect is gone")

var errUndecryptableFlow = patchbay.Errorf(patchbay.EInternal, "flow record does not decrypt")

// withResult appends parameters to uri's existing query, percent-encoded,
// in the given order (§13.4).
func withResult(uri string, kv ...string) string {
	var b strings.Builder
	b.Grow(len(uri) + 128)
	b.WriteString(uri)
	switch {
	case !strings.Contains(uri, "?"):
		b.WriteByte('?')
	case !strings.HasSuffix(uri, "?") && !strings.HasSuffix(uri, "&"):
		b.WriteByte('&')
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// providerText keeps what RFC 6749 allows in error and error_description
// (%x20-21 / %x23-5B / %x5D-7E), bounded, so that a provider's text cannot
// smuggle anything into the redirect or the audit log.
func providerText(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r >= 0x20 && r <= 0x7E && r != '"' && r != '\\' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// callback serves GET /oauth/callback (§13.4).
func (m *Manager) callback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	m.setCookie(w, stateCookie, "", http.SameSiteLaxMode)
	q, _ := url.ParseQuery(r.URL.RawQuery) // what parses is used; the rest is ignored
	state := q.Get("state")
	if !m.cookieMatches(r, stateCookie, state) {
		m.message(w, http.StatusBadRequest)
		return nil
	}
	sum := sha256.Sum256([]byte(state))
	f, err := m.stores.CompleteFlow(ctx, sum[:], m.now())
	if patchbay.IsCode(err, patchbay.ENotFound) || patchbay.IsCode(err, patchbay.EConflict) {
		m.message(w, http.StatusBadRequest)
		return nil
	}
	if err != nil {
		return err
	}
	frontdoor.InfoFrom(ctx).SetAccount(f.AccountID, f.ServerID)
	// The redirect URI was checked when the flow was made; check it again
	// in case the account's list shrank since, and never redirect elsewhere.
	if f.RedirectURI != m.donePage() {
		ok, err := m.redirectAllowed(ctx, f.AccountID, f.RedirectURI)
		if err != nil {
			return err
		}
		if !ok {
			m.message(w, http.StatusBadRequest)
			return nil
		}
	}
	fail := func(code, desc string) {
		m.flowFailed(ctx, f, code)
		redirect(w, http.StatusFound, withResult(f.RedirectURI, "status", "error", "error", code, "error_description", desc, "connectorId", f.ConnectorID))
	}
	if e := q.Get("error"); e != "" {
		code := providerText(e, 64)
		if code == "" {
			code = "provider_error"
		}
		fail(code, providerText(q.Get("error_description"), 512))
		return nil
	}
	code := q.Get("code")
	if code == "" {
		fail("invalid_request", "The provider sent no authorization code")
		return nil
	}
	conn, scheme, ok := m.oauthConnector(ctx, f)
	if !ok {
		fail("connector_not_found", "The connector is no longer available")
		return nil
	}
	a, err := m.resolveApp(ctx, f.AccountID, conn.ID, scheme, true)
	if err != nil {
		if patchbay.IsCode(err, patchbay.EInvalid) {
			fail("oauth_app_not_configured", "No OAuth app is configured for this connector")
			return nil
		}
		fail("server_error", "The credential could not be stored")
		m.logFailure(ctx, "GET /oauth/callback", err)
		return nil
	}
	sec, err := m.openFlow(ctx, f)
	if err != nil {
		fail("server_error", "The credential could not be stored")
		m.logFailure(ctx, "GET /oauth/callback", err)
		return nil
	}
	tok, err := m.exchange(ctx, scheme, a, code, sec.Verifier)
	if err != nil {
		tf := classify(err)
		m.log.InfoContext(ctx, "oauth: code exchange failed", "connector_id", f.ConnectorID, "status", tf.status, "error_code", tf.code, "timeout", tf.timeout)
		fail("token_exchange_failed", tf.describe())
		return nil
	}
	c, err := m.complete(ctx, f, conn, scheme, a, sec, tok)
	if errors.Is(err, errReconnectGone) {
		fail("credential_not_found", "The credential to reconnect no longer exists")
		return nil
	}
	if err != nil {
		fail("server_error", "The credential could not be stored")
		m.logFailure(ctx, "GET /oauth/callback", err)
		return nil
	}
	e := flowEvent("oauth.flow_completed", f, flowActor(f))
	e.CredentialID = c.ID
	m.audit(ctx, e)
	redirect(w, http.StatusFound, withResult(f.RedirectURI, "status", "success", "credentialId", c.ID, "connectorId", f.ConnectorID))
	return nil
}

// flowActor: the browser is unauthenticated; the flow acts for its user.
func flowActor(f *patchbay.Flow) patchbay.Actor {
	return patchbay.Actor{Kind: patchbay.ActorSystem, UserID: f.UserID}
}

func (m *Manager) flowFailed(ctx context.Context, f *patchbay.Flow, code string) {
	e := flowEvent("oauth.flow_failed", f, flowActor(f))
	e.Outcome = patchbay.OutcomeFailure
	e.Details = map[string]any{"error": code}
	m.audit(ctx, e)
}

// complete stores the tokens of a finished flow: a new credential, or the
// flow's credential reconnected (status back to active).
func (m *Manager) complete(ctx context.Context, f *patchbay.Flow, conn *patchbay.Connector, scheme *patchbay.AuthScheme, a *app,
	sec *flowSecret, tok *tokens) (*patchbay.Credential, error) {
	fields := schemeFields(scheme)
	extras := placeholderValues(conn, fields, tok.extras)
	secret := &patchbay.CredentialSecret{AccessToken: tok.access, RefreshToken: tok.refresh, TokenType: tok.tokenType, Fields: sec.Fields}
	scopes := grantedScopes(tok, a.scopes, scheme, nil)
	exp := m.expiry(tok)
	if f.CredentialID != "" {
		c, err := m.reconnect(ctx, f, extras, secret, tok, a, scheme, exp)
		if patchbay.IsCode(err, patchbay.ENotFound) {
			// Deleted while the user was at the provider. A new credential
			// would lack the old one's config, so the flow fails instead.
			return nil, errReconnectGone
		}
		return c, err
	}
	config := maps.Clone(f.Fields)
	if config == nil {
		config = map[string]string{}
	}
	maps.Copy(config, extras)
	bound := ""
	if f.Bind {
		bound = f.ServerID
	}
	return m.storeNew(ctx, newCredential{accountID: f.AccountID, userID: f.UserID, conn: conn, authType: patchbay.AuthOAuth2,
		name: f.Name, config: config, scopes: scopes, bound: bound, expiresAt: exp, secret: secret, actor: flowActor(f)})
}

// reconnect writes new tokens into the flow's credential. The store's
// revision check makes a concurrent refresh lose cleanly; we retry on top
// of it.
func (m *Manager) reconnect(ctx context.Context, f *patchbay.Flow, extras map[string]string, secret *patchbay.CredentialSecret,
	tok *tokens, a *app, scheme *patchbay.AuthScheme, exp *time.Time) (*patchbay.Credential, error) {
	for attempt := 0; ; attempt++ {
		cur, err := m.stores.FindCredential(ctx, f.AccountID, f.UserID, f.CredentialID)
		if err != nil {
			return nil, err
		}
		upd := *cur
		upd.Config = maps.Clone(cur.Config)
		if upd.Config == nil {
			upd.Config = map[string]string{}
		}
		maps.Copy(upd.Config, f.Fields)
		maps.Copy(upd.Config, extras)
		s := *secret
		if s.Fields == nil {
			if old, err := m.openSecret(ctx, cur); err == nil {
				s.Fields = old.Fields
			}
		}
		upd.Sealed, err = m.sealSecret(ctx, &upd, &s)
		if err != nil {
			return nil, err
		}
		upd.Status = patchbay.CredentialActive
		upd.Scopes = grantedScopes(tok, a.scopes, scheme, nil)
		upd.ExpiresAt = exp
		err = m.stores.UpdateCredentialSecret(ctx, &upd)
		if patchbay.IsCode(err, patchbay.EConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.statusChanged(ctx, &upd, cur.Status, flowActor(f))
		m.log.DebugContext(ctx, "oauth: credential reconnected", "credential_id", upd.ID)
		m.changed(ctx, &upd)
		return &upd, nil
	}
}

// expiry turns expires_in into an absolute time on the injected clock.
func (m *Manager) expiry(tok *tokens) *time.Time {
	if tok.expiresIn <= 0 {
		return nil
	}
	t := m.nowUTC().Add(time.Duration(tok.expiresIn) * time.Second)
	return &t
}

// grantedScopes is the token's scope member (RFC 6749: absent means as
// requested), split on whitespace and the scheme's separator; keep is used
// when a refresh answer has no scope.
func grantedScopes(tok *tokens, requested []string, s *patchbay.AuthScheme, keep []string) []string {
	if !tok.hasScope {
		if keep != nil {
			return keep
		}
		return append([]string(nil), requested...)
	}
	sep := s.Separator()
	out := []string{}
	for _, part := range strings.Fields(tok.scope) {
		for p := range strings.SplitSeq(part, sep) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// formPage serves GET /oauth/form/{flowId} (§13.6).
func (m *Manager) formPage(w http.ResponseWriter, r *http.Request) error {
	f, status, err := m.loadFlow(r, patchbay.FlowForm)
	if err != nil {
		return err
	}
	if status != 0 {
		m.message(w, status)
		return nil
	}
	conn, scheme, ok := m.formConnector(r.Context(), f)
	if !ok {
		m.message(w, http.StatusNotFound)
		return nil
	}
	m.renderForm(w, r.Context(), http.StatusOK, f, conn, scheme, f.Fields, "")
	return nil
}

func (m *Manager) formConnector(ctx context.Context, f *patchbay.Flow) (*patchbay.Connector, *patchbay.AuthScheme, bool) {
	conn, err := m.connectors.Connector(ctx, f.AccountID, f.ConnectorID)
	if err != nil {
		return nil, nil, false
	}
	s, err := secretScheme(conn, f.AuthType)
	return conn, s, err == nil
}

// renderForm shows the form with a fresh CSRF token. values pre-fill
// non-secret fields only: a secret is never written into a page.
func (m *Manager) renderForm(w http.ResponseWriter, ctx context.Context, status int, f *patchbay.Flow, conn *patchbay.Connector,
	scheme *patchbay.AuthScheme, values map[string]string, problem string) {
	p := m.pageInfo(ctx, f, conn)
	p.Problem = problem
	for _, fd := range schemeFields(scheme) {
		in := formInput{Name: fd.Name, Label: fd.Label, Type: "text", Required: fd.Required}
		if fd.Secret {
			in.Type = "password"
		} else {
			in.Value = values[fd.Name]
		}
		if len(fd.Enum) > 0 {
			in.Hint = "One of: " + strings.Join(fd.Enum, ", ")
		}
		if !fd.Required {
			in.Hint = strings.TrimSpace(in.Hint + " (optional)")
		}
		p.Inputs = append(p.Inputs, in)
	}
	p.CSRF = ids.Token43(m.random)
	m.setCookie(w, csrfCookie, p.CSRF, http.SameSiteStrictMode)
	m.render(w, status, formCSP(f.RedirectURI), "form", p)
}

// formSubmit serves POST /oauth/form/{flowId} (§13.6).
func (m *Manager) formSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := m.submittedFlow(w, r, patchbay.FlowForm)
	if f == nil {
		return err
	}
	conn, scheme, ok := m.formConnector(ctx, f)
	if !ok {
		m.message(w, http.StatusNotFound)
		return nil
	}
	fields := schemeFields(scheme)
	values := make(map[string]string, len(fields))
	for _, fd := range fields {
		if v := r.PostForm.Get(fd.Name); v != "" {
			values[fd.Name] = v
		}
	}
	if err := checkFields(fields, values, fieldCheck{requireAll: true, allowSecret: true}); err != nil {
		m.renderForm(w, ctx, http.StatusBadRequest, f, conn, scheme, values, patchbay.ErrorMessage(err))
		return nil
	}
	f, status, err := m.consume(ctx, f.ID, nil)
	if err != nil {
		return err
	}
	if status != 0 {
		m.message(w, status)
		return nil
	}
	config, secrets := splitFields(fields, values)
	bound := ""
	if f.Bind {
		bound = f.ServerID
	}
	c, err := m.storeNew(ctx, newCredential{accountID: f.AccountID, userID: f.UserID, conn: conn, authType: f.AuthType, name: f.Name,
		config: config, bound: bound, secret: &patchbay.CredentialSecret{Fields: secrets}, actor: flowActor(f)})
	if err != nil {
		return err
	}
	e := flowEvent("oauth.flow_completed", f, flowActor(f))
	e.CredentialID = c.ID
	m.audit(ctx, e)
	m.setCookie(w, csrfCookie, "", http.SameSiteStrictMode)
	redirect(w, http.StatusSeeOther, withResult(f.RedirectURI, "status", "success", "credentialId", c.ID, "connectorId", f.ConnectorID))
	return nil
}

// done serves GET /oauth/done, the built-in end page (§13.4).
func (m *Manager) done(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := messagePage{Title: "Connected", Text: "Connected, you can close this window."}
	if q.Get("status") != "success" {
		text := q.Get("error_description")
		if text == "" {
			text = q.Get("error")
		}
		if text == "" {
			text = "The connection was not completed."
		}
		if utf8.RuneCountInString(text) > 512 {
			text = string([]rune(text)[:512])
		}
		p = messagePage{Title: "Not connected", Text: text}
	}
	m.render(w, http.StatusOK, "default-src 'none'; style-src 'unsafe-inline'", "message", p)
	return nil
}
