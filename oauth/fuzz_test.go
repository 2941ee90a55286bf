package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

// consumedState starts a flow and confirms its start link on the handler
// directly, returning the state bound to it.
func (e *env) consumedState(t testing.TB) string {
	u, _, err := e.m.StartOAuth(context.Background(), startReq("acme-crm"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(u, e.srv.URL)
	rec := httptest.NewRecorder()
	e.m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	m := csrfRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no csrf: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("csrf="+m[1]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "pb_oauth_csrf", Value: m[1]})
	rec = httptest.NewRecorder()
	e.m.Handler().ServeHTTP(rec, req)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || err != nil {
		t.Fatalf("confirm: %d", rec.Code)
	}
	return loc.Query().Get("state")
}

// FuzzCallback: any query string on /oauth/callback, with or without the
// state cookie, is either a 400 page or a redirect to the flow's own
// (allowed) redirect URI. "STATE" in the input stands for a live state.
func FuzzCallback(f *testing.F) {
	e := newEnv(f, envOptions{})
	acct, err := e.db.FindAccount(context.Background(), accountA)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"code=abc&state=STATE",
		"error=access_denied&error_description=no&state=STATE",
		"state=STATE&state=other&code=x",
		"code=x&state=STATE&redirect_uri=https%3A%2F%2Fevil.example%2F",
		"state=%ZZ&code=1",
		"",
		";;;&&&==",
		"state=STATE&error=%00%0d%0aLocation:%20https://evil.example",
		"state=STATE&error=&code=",
		"code=" + strings.Repeat("c", 5000) + "&state=STATE",
		"state=" + strings.Repeat("s", 43),
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, query string, cookie bool) {
		state := e.consumedState(t)
		query = strings.ReplaceAll(query, "STATE", url.QueryEscape(state))
		req := httptest.NewRequest(http.MethodGet, "/oauth/callback", nil)
		req.URL.RawQuery = query
		if cookie {
			req.AddCookie(&http.Cookie{Name: "pb_oauth", Value: state})
		}
		rec := httptest.NewRecorder()
		e.m.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Fatalf("400 with Location %q", loc)
			}
		case http.StatusFound:
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, appRedirect+"?tenant=7&status=") || !patchbay.RedirectAllowed(loc, e.srv.URL, acct.AllowedRedirectURIs) {
				t.Fatalf("redirect to %q", loc)
			}
			if _, err := url.ParseQuery(strings.SplitN(loc, "?", 2)[1]); err != nil {
				t.Fatalf("malformed redirect query %q", loc)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// FuzzOpenSealed: a credential record of arbitrary bytes never opens and
// never panics.
func FuzzOpenSealed(f *testing.F) {
	e := newEnv(f, envOptions{})
	ctx := context.Background()
	other, err := e.m.CreateCredential(ctx, createBearer("tok-fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	valid, err := e.vault.Seal(ctx, accountA, "cred_AAAAAAAAAAAAAAAAAAAA", []byte(`not json`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(other.Sealed)                           // another record's ciphertext
	f.Add(valid)                                  // authentic, but not a secret
	f.Add([]byte{})                               // empty
	f.Add([]byte{1, 0, 0, 0, 1})                  // header only
	f.Add([]byte{1, 0, 0, 0, 9, 1, 2, 3})         // unknown key version
	f.Add(append([]byte{2}, other.Sealed[1:]...)) // other format byte
	flipped := append([]byte(nil), other.Sealed...)
	flipped[len(flipped)-1] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &patchbay.Credential{ID: "cred_AAAAAAAAAAAAAAAAAAAA", AccountID: accountA, UserID: userA, ConnectorID: "bearer-only",
			AuthType: patchbay.AuthBearer, Status: patchbay.CredentialActive, Sealed: data}
		mat, err := e.m.Source(c, "", "").Material(ctx)
		if err == nil || mat != nil {
			t.Fatalf("opened %d bytes", len(data))
		}
		if patchbay.ErrorCode(err) != patchbay.EInternal || patchbay.ErrorMessage(err) != "Internal error" {
			t.Fatalf("err = %v", err)
		}
	})
}
