package gateway_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ids"
)

const pingBody = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

func TestWarmGatewayExecutes(t *testing.T) {
	w := newWarmGateway(t, nil)
	res := w.execute("items_get", map[string]any{"itemId": "42"})
	sc, _ := res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc["id"] != "/items/42" {
		t.Fatalf("execute: %v", res)
	}
	if w.upstreamCalls() != 1 {
		t.Fatalf("%d upstream calls", w.upstreamCalls())
	}
}

// An access token expires by the clock while its configuration is cached
// (§6.4: tokenExpiresAt <= now is 401), with an injected clock.
func TestTokenExpiresByClock(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	w := newWarmGateway(t, &warmOptions{now: clk.Now, configTTL: time.Hour})
	if rec := w.post(w.tokenPath(), pingBody); rec.Code != http.StatusOK {
		t.Fatalf("fresh token: %d %s", rec.Code, rec.Body)
	}
	clk.Advance(24*time.Hour - time.Second)
	if rec := w.post(w.tokenPath(), pingBody); rec.Code != http.StatusOK {
		t.Fatalf("a second before the expiry: %d %s", rec.Code, rec.Body)
	}
	clk.Advance(time.Second) // now == tokenExpiresAt
	rec := w.post(w.tokenPath(), pingBody)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("at the expiry: %d %s", rec.Code, rec.Body)
	}
	// The API-key route does not depend on the token.
	if rec := w.post("/mcp/"+w.serverID, pingBody, "Authorization", "Bearer "+w.adminKey); rec.Code != http.StatusOK {
		t.Fatalf("API key route: %d %s", rec.Code, rec.Body)
	}
}

// pauseOnce returns a hook that blocks the first matching call after its
// store read until release is closed; read is closed when it blocks.
func pauseOnce() (hook func(), read, release chan struct{}) {
	read, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(read)
			<-release
		})
	}, read, release
}

// A server configuration read before a change and stored after the
// change's invalidation must not be cached: the old token would stay valid
// for the config TTL (§5.8, §17.6: rejected before the response is sent).
func TestServerCacheDoesNotKeepAReadFromBeforeAChange(t *testing.T) {
	w := newWarmGateway(t, &warmOptions{configTTL: time.Hour})
	id, oldToken := w.createServer("Racy", nil)
	hook, read, release := pauseOnce()
	w.store.mu.Lock()
	w.store.afterServer = func(sid string) {
		if sid == id {
			hook()
		}
	}
	w.store.mu.Unlock()
	done := make(chan int)
	go func() { done <- w.post("/mcp/"+id+"/"+oldToken, pingBody).Code }()
	<-read // the request has read the configuration with the old token

	// Regenerate, as httpapi does: store the new token, then invalidate.
	newToken := ids.ServerToken()
	sum := sha256.Sum256([]byte(newToken))
	if _, err := w.store.UpdateServer(context.Background(), testAccount, id, func(s *patchbay.Server) (bool, error) {
		s.TokenHash = sum[:]
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	w.gw.Invalidate(id)
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the request sent before the change: %d", code)
	}
	if rec := w.post("/mcp/"+id+"/"+oldToken, pingBody); rec.Code != http.StatusUnauthorized {
		t.Fatalf("old token after the regeneration: %d", rec.Code)
	}
	if rec := w.post("/mcp/"+id+"/"+newToken, pingBody); rec.Code != http.StatusOK {
		t.Fatalf("new token: %d %s", rec.Code, rec.Body)
	}
}

// A credential list read before a deletion and stored after it must not
// be cached: the deleted credential would stay selectable, secret and all.
func TestCredentialCacheDoesNotKeepAReadFromBeforeADeletion(t *testing.T) {
	w := newWarmGateway(t, &warmOptions{configTTL: time.Hour})
	hook, read, release := pauseOnce()
	w.store.mu.Lock()
	w.store.afterCreds = hook
	w.store.mu.Unlock()
	done := make(chan map[string]any)
	go func() { done <- w.execute("items_create", map[string]any{"title": "before"}, "credentialId", w.credID) }()
	<-read // the request has listed the credential
	if err := w.manager.DeleteCredential(context.Background(), testAccount, testUser, w.credID, patchbay.Actor{Kind: patchbay.ActorSystem}); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done // sent before the deletion: either outcome is fine
	calls := w.upstreamCalls()
	res := w.execute("items_create", map[string]any{"title": "after"}, "credentialId", w.credID)
	sc, _ := res["structuredContent"].(map[string]any)
	e, _ := sc["error"].(map[string]any)
	if res["isError"] != true || e["code"] != "CREDENTIAL_NOT_FOUND" || w.upstreamCalls() != calls {
		t.Fatalf("a deleted credential was used: %v (upstream calls %d)", res, w.upstreamCalls()-calls)
	}
	// Without an explicit ID there is no candidate either.
	res = w.execute("items_create", map[string]any{"title": "after"})
	sc, _ = res["structuredContent"].(map[string]any)
	e, _ = sc["error"].(map[string]any)
	if e["code"] != "CREDENTIAL_NOT_FOUND" || w.upstreamCalls() != calls {
		t.Fatalf("default selection after the deletion: %v", res)
	}
}

// Requests for unknown server IDs are no change: a flood of them must not
// keep the configurations of real servers from being cached (each request
// would read the store).
func TestUnknownServerIDsDoNotDefeatTheCache(t *testing.T) {
	w := newWarmGateway(t, &warmOptions{configTTL: time.Hour})
	id, token := w.createServer("Popular", nil)
	var reads sync.Map // server ID -> *int64
	hook, read, release := pauseOnce()
	w.store.mu.Lock()
	w.store.afterServer = func(sid string) {
		n, _ := reads.LoadOrStore(sid, new(int64))
		*n.(*int64)++
		if sid == id {
			hook()
		}
	}
	w.store.mu.Unlock()
	done := make(chan int)
	go func() { done <- w.post("/mcp/"+id+"/"+token, pingBody).Code }()
	<-read
	for i := range 5 {
		if rec := w.post("/mcp/unknown-"+ids.Hex(nil, 8)+"/"+token, pingBody); rec.Code != http.StatusUnauthorized {
			t.Fatalf("unknown server %d: %d", i, rec.Code)
		}
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	for range 3 {
		if rec := w.post("/mcp/"+id+"/"+token, pingBody); rec.Code != http.StatusOK {
			t.Fatalf("ping: %d", rec.Code)
		}
	}
	n, _ := reads.Load(id)
	if got := *n.(*int64); got != 1 {
		t.Fatalf("the server was read %d times, want once", got)
	}
}
