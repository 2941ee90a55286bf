package oauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
)

// hammer runs n concurrent Material (even i) and Refresh (odd i) calls, each
// through its own Source of the same stale credential, and returns the
// access tokens they got.
func hammer(t *testing.T, ms []*oauth.Manager, c *patchbay.Credential, n int) []string {
	t.Helper()
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			src := ms[i%len(ms)].Source(c, "", "")
			var mat *patchbay.CredentialMaterial
			var err error
			if i%2 == 0 {
				mat, err = src.Material(context.Background())
			} else {
				mat, err = src.Refresh(context.Background(), &patchbay.CredentialMaterial{CredentialID: c.ID, AuthType: c.AuthType})
			}
			errs[i] = err
			if err == nil {
				tokens[i] = mat.AccessToken.Reveal()
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return tokens
}

func TestConcurrentRefreshIsSingleFlight(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connectNew(startReq("acme-crm"))
	e.clock.Advance(time.Hour + time.Second) // just expired
	tokens := hammer(t, []*oauth.Manager{e.m}, c, 50)
	if got := e.prov.refreshRequests.Load(); got != 1 {
		t.Fatalf("%d refresh requests, want 1", got)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("call %d got another token", i)
		}
	}
	if e.prov.callPlatform(t, tokens[0]) != http.StatusOK {
		t.Fatal("shared token does not work")
	}
	if got := e.findCredential(accountA, userA, c.ID).Revision; got != c.Revision+1 {
		t.Errorf("revision %d, want %d", got, c.Revision+1)
	}
}

// memLocker is an in-process stand-in for the Redis lock shared by
// instances.
type memLocker struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
	keys  []string
}

func (l *memLocker) Lock(ctx context.Context, key string, _ time.Duration) (func(), error) {
	for {
		l.mu.Lock()
		if l.locks == nil {
			l.locks = map[string]chan struct{}{}
		}
		ch, held := l.locks[key]
		if !held {
			ch = make(chan struct{})
			l.locks[key] = ch
			l.keys = append(l.keys, key)
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.locks, key)
				l.mu.Unlock()
				close(ch)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// TestRefreshAcrossInstances: two managers on one database, sharing a
// lock, refresh once between them.
func TestRefreshAcrossInstances(t *testing.T) {
	locker := &memLocker{}
	e := newEnv(t, envOptions{locker: locker})
	e2 := newEnv(t, envOptions{locker: locker, db: e.db, vault: e.vault, clock: e.clock, prov: e.prov, catalog: e.catalog})
	c := e.connectNew(startReq("acme-crm"))
	e.clock.Advance(2 * time.Hour)
	tokens := hammer(t, []*oauth.Manager{e.m, e2.m}, c, 50)
	if got := e.prov.refreshRequests.Load(); got != 1 {
		t.Fatalf("%d refresh requests, want 1", got)
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatal("instances disagree on the token")
		}
	}
	if len(locker.keys) == 0 || locker.keys[0] != "pb:lock:refresh:"+c.ID {
		t.Errorf("lock keys %v", locker.keys)
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(grant string) (int, string)
		revoke     bool
		wantCode   string
		wantReason string // details.reason of the returned error
		wantStatus string
		wantAudit  string // details.reason of credential.refresh_failed
		wantOut    string
	}{
		{name: "InvalidGrant", revoke: true, wantCode: patchbay.ECredentialNotFound, wantReason: "needs_reauth",
			wantStatus: patchbay.CredentialNeedsReauth, wantAudit: "invalid_grant", wantOut: "needs_reauth"},
		{name: "HTTP401", fail: only("refresh_token", 401, `{"error":"invalid_client"}`), wantCode: patchbay.ECredentialNotFound,
			wantReason: "needs_reauth", wantStatus: patchbay.CredentialNeedsReauth, wantAudit: "http_401", wantOut: "needs_reauth"},
		{name: "HTTP400NoBody", fail: only("refresh_token", 400, ``), wantCode: patchbay.ECredentialNotFound,
			wantReason: "needs_reauth", wantStatus: patchbay.CredentialNeedsReauth, wantAudit: "http_400", wantOut: "needs_reauth"},
		{name: "HTTP503", fail: only("refresh_token", 503, `{"echo":"`+clientSecret+`"}`), wantCode: patchbay.EUpstream,
			wantReason: "token_refresh_failed", wantStatus: patchbay.CredentialActive, wantAudit: "http_503", wantOut: "error"},
		{name: "InvalidAnswer", fail: only("refresh_token", 200, `not json`), wantCode: patchbay.EUpstream,
			wantReason: "token_refresh_failed", wantStatus: patchbay.CredentialActive, wantAudit: "network_error", wantOut: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			c := e.connectNew(startReq("acme-crm"))
			if tt.revoke {
				e.prov.revokeAll()
			}
			e.prov.setFail(tt.fail)
			e.clock.Advance(2 * time.Hour)
			_, err := e.m.Source(c, "https://evil.example/cb", "").Material(ctx)
			e.noLeak("error", err.Error())
			if patchbay.ErrorCode(err) != tt.wantCode || reason(err) != tt.wantReason {
				t.Fatalf("err = %v %v", err, errDetails(err))
			}
			if got := e.findCredential(accountA, userA, c.ID).Status; got != tt.wantStatus {
				t.Errorf("status %s, want %s", got, tt.wantStatus)
			}
			if tt.wantCode == patchbay.ECredentialNotFound {
				u, _ := errDetails(err)["oauthUrl"].(string)
				if !strings.HasPrefix(u, e.srv.URL+"/oauth/start/") {
					t.Fatalf("oauthUrl %q", u)
				}
				// The disallowed redirect URI fell back to the built-in page.
				e.prov.setFail(nil)
				final := connect(t, newBrowser(t), u)
				if final.Path != "/oauth/done" || final.Query().Get("credentialId") != c.ID {
					t.Errorf("reconnect ended at %s", final)
				}
				if got := e.findCredential(accountA, userA, c.ID).Status; got != patchbay.CredentialActive {
					t.Errorf("status after reconnect %s", got)
				}
			}
			ev := e.auditEvents(accountA, "credential.refresh_failed")
			if len(ev) != 1 || ev[0].Details["reason"] != tt.wantAudit {
				t.Errorf("refresh_failed %+v", ev)
			}
			if got := strings.TrimSpace(e.outcomes.String()); got != tt.wantOut {
				t.Errorf("outcome %q, want %q", got, tt.wantOut)
			}
		})
	}
}

func only(grant string, status int, body string) func(string) (int, string) {
	return func(g string) (int, string) {
		if g != grant {
			return 0, ""
		}
		return status, body
	}
}

func TestRefreshTimeout(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connectNew(startReq("acme-crm"))
	e.prov.mu.Lock()
	gate := make(chan struct{})
	e.prov.gate = gate
	e.prov.mu.Unlock()
	defer close(gate)
	m := oauth.New(e.db, e.vault, e.catalog, &oauth.Options{PublicURL: e.srv.URL, Now: e.clock.Now,
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
	e.clock.Advance(2 * time.Hour)
	_, err := m.Source(c, "", "").Material(context.Background())
	if patchbay.ErrorCode(err) != patchbay.EUpstreamTimeout || errDetails(err)["timeoutSeconds"] != 30 {
		t.Fatalf("err = %v %v", err, errDetails(err))
	}
	if got := e.findCredential(accountA, userA, c.ID).Status; got != patchbay.CredentialActive {
		t.Errorf("status %s", got)
	}
}

// TestExpiredWithoutRefreshToken: an access token without a refresh token
// expires into status expired with a reconnect link.
func TestExpiredWithoutRefreshToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.prov.setFail(only("authorization_code", 200, `{"access_token":"at-norefresh-canary","token_type":"Bearer","expires_in":600}`))
	e.canary("at-norefresh-canary")
	c := e.connectNew(startReq("acme-crm"))
	if mat, err := e.m.Source(c, "", "").Material(ctx); err != nil || mat.AccessToken.Reveal() != "at-norefresh-canary" {
		t.Fatalf("material: %v", err)
	}
	e.clock.Advance(10 * time.Minute)
	_, err := e.m.Source(c, appRedirect, "").Material(ctx)
	if patchbay.ErrorCode(err) != patchbay.ECredentialNotFound || reason(err) != "expired" || errDetails(err)["oauthUrl"] == nil {
		t.Fatalf("err = %v %v", err, errDetails(err))
	}
	stored := e.findCredential(accountA, userA, c.ID)
	if stored.Status != patchbay.CredentialExpired || e.prov.refreshRequests.Load() != 0 {
		t.Errorf("status %s, refreshes %d", stored.Status, e.prov.refreshRequests.Load())
	}
	// An expired credential reports itself without another round trip.
	_, err = e.m.Source(stored, "", "").Material(ctx)
	if reason(err) != "expired" {
		t.Errorf("err = %v", err)
	}
}

// TestNotActive: a revoked credential (its OAuth app was deleted) reports
// the §12.4 error; without an app there is no reconnect link.
func TestNotActive(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.connectNew(startReq("acme-crm"))
	if _, err := e.db.DeleteOAuthApp(ctx, accountA, "acme-crm"); err != nil {
		t.Fatal(err)
	}
	stored := e.findCredential(accountA, userA, c.ID)
	err := e.m.NotActive(ctx, stored, "", "")
	d := errDetails(err)
	if patchbay.ErrorCode(err) != patchbay.ECredentialNotFound || d["reason"] != "revoked" || d["credentialId"] != c.ID || d["oauthUrl"] != nil {
		t.Fatalf("err = %v %v", err, d)
	}
	e.putApp(accountA, "acme-crm", "acme-client")
	_, err = e.m.Source(stored, appRedirect+"?x=1", "").Material(ctx)
	u, _ := errDetails(err)["oauthUrl"].(string)
	if reason(err) != "revoked" || u == "" {
		t.Fatalf("err = %v", err)
	}
	final := connect(t, newBrowser(t), u)
	if got := final.Scheme + "://" + final.Host + final.Path + "?" + final.RawQuery; got != appRedirect+"?x=1&status=success&credentialId="+c.ID+"&connectorId=acme-crm" {
		t.Errorf("reconnect ended at %s", got)
	}
	if got := e.findCredential(accountA, userA, c.ID).Status; got != patchbay.CredentialActive {
		t.Errorf("status %s", got)
	}
}

// TestMarkNeedsReauth: the upstream still answers 401 after a refresh.
func TestMarkNeedsReauth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.connectNew(startReq("acme-crm"))
	err := e.m.Source(c, "", "").MarkNeedsReauth(ctx)
	if reason(err) != "needs_reauth" || errDetails(err)["oauthUrl"] == nil {
		t.Fatalf("err = %v", err)
	}
	if got := e.findCredential(accountA, userA, c.ID).Status; got != patchbay.CredentialNeedsReauth {
		t.Errorf("status %s", got)
	}
}
