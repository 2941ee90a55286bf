package oauth

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// tokens is a successful token endpoint answer.
type tokens struct {
	access, refresh, tokenType string
	expiresIn                  int64 // seconds; 0 when the provider sent none
	scope                      string
	hasScope                   bool
	extras                     map[string]string // provider members that can fill base URL placeholders
}

// extraMembers are token response members that name the API host of the
// connected tenant (Salesforce instance_url, Zoho api_domain).
var extraMembers = []string{"instance_url", "api_domain"}

// config is the x/oauth2 client of one scheme and app. The client
// authentication method is explicit, so x/oauth2 never probes the other one
// with the secret.
func (m *Manager) config(s *patchbay.AuthScheme, a *app) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if s.TokenAuthMethod == "client_secret_post" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     a.clientID,
		ClientSecret: a.secret.Reveal(),
		Endpoint:     oauth2.Endpoint{AuthURL: s.AuthorizationURL, TokenURL: s.TokenURL, AuthStyle: style},
		RedirectURL:  m.callbackURL(),
	}
}

// reservedAuthorize are the authorize parameters Patchbay sets itself; a
// scheme's authorizeParams cannot override them.
var reservedAuthorize = map[string]bool{"response_type": true, "client_id": true, "redirect_uri": true, "scope": true,
	"state": true, "code_challenge": true, "code_challenge_method": true}

// authorizeURL is the provider URL of §13.2: response_type, client_id,
// redirect_uri, scope joined with the scheme's separator, state, the S256
// challenge unless pkce is false, and the scheme's authorizeParams.
func (m *Manager) authorizeURL(s *patchbay.AuthScheme, a *app, state, verifier string) string {
	cfg := m.config(s, &app{clientID: a.clientID})
	opts := make([]oauth2.AuthCodeOption, 0, 2+len(s.AuthorizeParams))
	if len(a.scopes) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(a.scopes, s.Separator())))
	}
	if s.UsesPKCE() {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	for k, v := range s.AuthorizeParams {
		if !reservedAuthorize[k] {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return cfg.AuthCodeURL(state, opts...)
}

func (m *Manager) tokenContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, m.client)
}

// exchange trades an authorization code for tokens (§13.4 step 3).
func (m *Manager) exchange(ctx context.Context, s *patchbay.AuthScheme, a *app, code, verifier string) (*tokens, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	var opts []oauth2.AuthCodeOption
	if s.UsesPKCE() {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := m.config(s, a).Exchange(m.tokenContext(ctx), code, opts...)
	if err != nil {
		return nil, err
	}
	return fromToken(tok), nil
}

// refreshGrant runs grant_type=refresh_token (§13.5).
func (m *Manager) refreshGrant(ctx context.Context, s *patchbay.AuthScheme, a *app, refreshToken string) (*tokens, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	tok, err := m.config(s, a).TokenSource(m.tokenContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, err
	}
	return fromToken(tok), nil
}

func fromToken(tok *oauth2.Token) *tokens {
	t := &tokens{access: tok.AccessToken, refresh: tok.RefreshToken, tokenType: tok.TokenType, expiresIn: tok.ExpiresIn}
	if t.expiresIn == 0 { // form-encoded answers only reach Extra
		t.expiresIn = intExtra(tok.Extra("expires_in"))
	}
	if v, ok := tok.Extra("scope").(string); ok {
		t.scope, t.hasScope = v, true
	}
	for _, k := range extraMembers {
		if v, ok := tok.Extra(k).(string); ok && v != "" {
			if t.extras == nil {
				t.extras = make(map[string]string, 1)
			}
			t.extras[k] = v
		}
	}
	return t
}

func intExtra(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// tokenFailure classifies a failed token request without keeping any of
// the provider's text.
type tokenFailure struct {
	rejected bool   // invalid_grant, or HTTP 400/401: the grant is dead
	timeout  bool   // no answer in time
	blocked  bool   // the SSRF policy refused the destination
	status   int    // HTTP status, 0 when there was no answer
	code     string // RFC 6749 error code, sanitized
}

// errorCodeRE is the RFC 6749 error-code character set, which is also safe
// to echo into a redirect or an audit record.
var errorCodeRE = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$`)

func classify(err error) tokenFailure {
	var f tokenFailure
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			f.status = re.Response.StatusCode
		}
		if errorCodeRE.MatchString(re.ErrorCode) {
			f.code = re.ErrorCode
		}
		f.rejected = re.ErrorCode == "invalid_grant" || f.status == http.StatusBadRequest || f.status == http.StatusUnauthorized
		return f
	}
	var ne net.Error
	f.timeout = errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	f.blocked = errors.Is(err, ssrf.ErrBlocked)
	return f
}

// describe is the error_description of a failed exchange: what happened, in
// Patchbay's words.
func (f tokenFailure) describe() string {
	switch {
	case f.blocked:
		return "The token endpoint is not an allowed destination"
	case f.timeout:
		return "The token endpoint did not answer in time"
	case f.status != 0 && f.code != "":
		return "The token endpoint answered HTTP " + strconv.Itoa(f.status) + " (" + f.code + ")"
	case f.status != 0:
		return "The token endpoint answered HTTP " + strconv.Itoa(f.status)
	default:
		return "The token endpoint could not be reached or sent an invalid answer"
	}
}

// reason is the audit reason of a failed refresh.
func (f tokenFailure) reason() string {
	switch {
	case f.code == "invalid_grant":
		return "invalid_grant"
	case f.rejected:
		return "http_" + strconv.Itoa(f.status)
	case f.blocked:
		return "destination_blocked"
	case f.timeout:
		return "timeout"
	case f.status != 0:
		return "http_" + strconv.Itoa(f.status)
	default:
		return "network_error"
	}
}

// upstreamError is the tool-facing error of a refresh that failed for a
// reason that may pass (§13.5: status unchanged). The cause is not wrapped:
// x/oauth2 errors quote the provider's response body, which may echo what
// was sent.
func (f tokenFailure) upstreamError() error {
	cause := errors.New("token endpoint: " + f.reason())
	switch {
	case f.timeout:
		return patchbay.Errorf(patchbay.EUpstreamTimeout, "Upstream timed out").With("timeoutSeconds", int(tokenTimeout.Seconds())).Wrap(cause)
	case f.blocked:
		return patchbay.Errorf(patchbay.EUpstream, "Upstream destination not allowed").Reason("destination_blocked").Wrap(cause)
	case f.status != 0:
		return patchbay.Errorf(patchbay.EUpstream, "OAuth token refresh failed with HTTP %d", f.status).
			Reason("token_refresh_failed").With("status", f.status).Wrap(cause)
	default:
		return patchbay.Errorf(patchbay.EUpstream, "OAuth token refresh failed").Reason("token_refresh_failed").Wrap(cause)
	}
}

// revoke asks the scheme's revocationUrl to revoke token (RFC 7009), best
// effort: 5 s, result ignored.
func (m *Manager) revoke(ctx context.Context, c *patchbay.Credential, token, hint string) {
	conn, err := m.connectors.Connector(ctx, c.AccountID, c.ConnectorID)
	if err != nil {
		return
	}
	s := conn.Scheme(patchbay.AuthOAuth2)
	if s == nil || s.RevocationURL == "" {
		return
	}
	a, err := m.resolveApp(ctx, c.AccountID, c.ConnectorID, s, true)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	post := s.TokenAuthMethod == "client_secret_post"
	if post {
		form.Set("client_id", a.clientID)
		form.Set("client_secret", a.secret.Reveal())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !post {
		req.SetBasicAuth(url.QueryEscape(a.clientID), url.QueryEscape(a.secret.Reveal()))
	}
	resp, err := m.client.Do(req)
	if err != nil {
		m.log.DebugContext(ctx, "oauth: revocation failed", "credential_id", c.ID)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	m.log.DebugContext(ctx, "oauth: revocation answered", "credential_id", c.ID, "status", resp.StatusCode)
}

// placeholderValues maps provider extras onto base URL placeholders: for
// baseUrl https://{instance}.my.salesforce.com and instance_url
// https://acme.my.salesforce.com, instance = acme. Only placeholders that
// name a non-secret field of the scheme are filled, and only with values
// the field accepts.
func placeholderValues(conn *patchbay.Connector, fields []field, extras map[string]string) map[string]string {
	if len(extras) == 0 || conn.BaseURL == "" {
		return nil
	}
	tmpl := hostTemplate(conn.BaseURL)
	if tmpl == "" || !strings.Contains(tmpl, "{") {
		return nil
	}
	re, names := templateRegexp(tmpl)
	if re == nil {
		return nil
	}
	var out map[string]string
	for _, k := range extraMembers {
		v, ok := extras[k]
		if !ok {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			continue
		}
		match := re.FindStringSubmatch(strings.ToLower(u.Hostname()))
		if match == nil {
			continue
		}
		for i, name := range names {
			f := findField(fields, name)
			if f == nil || f.Secret || checkValue(f, match[i+1]) != nil {
				continue
			}
			if out == nil {
				out = make(map[string]string, len(names))
			}
			out[name] = match[i+1]
		}
		return out
	}
	return out
}

// hostTemplate is the host part of a base URL template, placeholders kept.
func hostTemplate(base string) string {
	rest, ok := strings.CutPrefix(base, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(base, "http://"); !ok {
			return ""
		}
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "}") {
		rest = rest[:i]
	}
	return rest
}

// templateRegexp turns "{instance}.my.salesforce.com" into an anchored
// regexp with one DNS-label group per placeholder.
func templateRegexp(tmpl string) (*regexp.Regexp, []string) {
	var b strings.Builder
	var names []string
	b.WriteString("(?i)^")
	for tmpl != "" {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(tmpl))
			break
		}
		b.WriteString(regexp.QuoteMeta(tmpl[:i]))
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return nil, nil
		}
		names = append(names, tmpl[i+1:i+j])
		b.WriteString("([a-z0-9][a-z0-9-]{0,62})")
		tmpl = tmpl[i+j+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, nil
	}
	return re, names
}
