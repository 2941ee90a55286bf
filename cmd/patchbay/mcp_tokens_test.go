package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// Acceptance point 6: an expired token URL, a regenerated token and a
// deleted server (§5.7, §5.8, §6.4): the same 401 on the token URL (no
// existence oracle) and 404 on /mcp/{serverId} with an API key, from the
// moment the management response is returned.

// withoutRequestID returns an envelope body with details.requestId blanked,
// so that two refusals can be compared byte for byte.
func withoutRequestID(r *mcpResp) string {
	id, _ := r.envDetail("requestId").(string)
	if id == "" {
		return string(r.Body)
	}
	return strings.Replace(string(r.Body), id, "", 1)
}

// setTokenExpiry writes a server's token expiry directly in the store.
func (ts *testServer) setTokenExpiry(t *testing.T, id string, at time.Time) {
	t.Helper()
	_, err := ts.app.db.UpdateServer(context.Background(), "default", id, func(s *patchbay.Server) (bool, error) {
		s.TokenExpiresAt = at.UTC()
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMCPTokenExpired(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.call("POST", "/api/servers", map[string]any{"name": "Short Lived", "tokenExpiresInDays": 1}).want(t, http.StatusCreated)
	id, tokenURL := r.str("serverId"), r.str("accessUrl")
	exp := parseTime(t, r.str("tokenExpiresAt"))
	if d := time.Until(exp); d < 23*time.Hour+59*time.Minute || d > 24*time.Hour+time.Minute {
		t.Fatalf("tokenExpiresAt %s is not a day ahead", r.str("tokenExpiresAt"))
	}
	// The day has passed (written in the store before the first MCP
	// request reads the server).
	ts.setTokenExpiry(t, id, time.Now().Add(-time.Second))
	// The reference refusals: a token that never existed, an unknown server.
	wrong := mcpPost(t, ts.URL+"/mcp/"+id+"/mcp_token_"+strings.Repeat("A", 40), ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	unknown := mcpPost(t, ts.URL+"/mcp/no-such-server-00000000/mcp_token_"+strings.Repeat("A", 40), ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	if withoutRequestID(wrong) != withoutRequestID(unknown) {
		t.Fatalf("wrong token %s and unknown server %s differ", wrong.Body, unknown.Body)
	}
	expired := mcpPost(t, tokenURL, ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	if withoutRequestID(expired) != withoutRequestID(wrong) {
		t.Errorf("expired token %s differs from a wrong token %s", expired.Body, wrong.Body)
	}
	if expired.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("a 401 ran the limiter")
	}
	// Token expiry concerns the token only: the API-key route still works.
	mcpPost(t, ts.URL+"/mcp/"+id, ping, "Authorization", "Bearer "+ts.AdminKey).wantSSE(t)
	// A regenerated token works again.
	fresh := ts.call("POST", "/api/servers/"+id+"/regenerate-token", map[string]any{"tokenExpiresInDays": 1}).want(t, http.StatusOK)
	mcpPost(t, fresh.str("accessUrl"), ping).wantSSE(t)
	mcpPost(t, tokenURL, ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

// A token that expires while its server configuration is cached is refused
// from its expiry on: the expiry is compared with the clock on every
// request, not only when the configuration is read.
func TestMCPTokenExpiresWhileCached(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Expiring", "tokenExpiresInDays": 1, "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	expiry := time.Now().Truncate(time.Second).Add(2 * time.Second)
	ts.setTokenExpiry(t, id, expiry)
	mcpPost(t, tokenURL, ping).wantSSE(t) // now cached with the short expiry
	deadline := time.Now().Add(10 * time.Second)
	for {
		sent := time.Now()
		r := mcpPost(t, tokenURL, ping)
		if r.Status == http.StatusUnauthorized {
			if sent.Before(expiry.Add(-time.Second)) {
				t.Fatalf("refused at %s, before the expiry %s", sent, expiry)
			}
			break
		}
		if r.Status != http.StatusOK {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		if sent.After(expiry.Add(time.Second)) {
			t.Fatalf("still accepted at %s, expiry %s", sent, expiry)
		}
		if time.Now().After(deadline) {
			t.Fatal("the token never expired")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	// And it stays refused.
	mcpPost(t, tokenURL, ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

// hammer sends pings to rawURL from several goroutines until stop is
// closed, and records each answer's status with the time it was sent.
type hammerResult struct {
	sent   time.Time
	status int
}

func hammer(rawURL string, workers int, stop <-chan struct{}, headers ...string) func() []hammerResult {
	var mu sync.Mutex
	var out []hammerResult
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				r, err := mcpTry(rawURL, ping, headers...)
				if err != nil {
					continue
				}
				mu.Lock()
				out = append(out, hammerResult{sent: sent, status: r.Status})
				mu.Unlock()
			}
		}()
	}
	return func() []hammerResult {
		wg.Wait()
		return out
	}
}

// checkRefusedAfter fails when a request sent after the change returned
// was answered with anything but want.
func checkRefusedAfter(t *testing.T, what string, rs []hammerResult, changed time.Time, want int) {
	t.Helper()
	after := 0
	for _, r := range rs {
		if !r.sent.After(changed) {
			continue
		}
		after++
		if r.status != want {
			t.Errorf("%s: a request sent %s after the change got %d, want %d", what, r.sent.Sub(changed), r.status, want)
			return
		}
	}
	if after == 0 {
		t.Errorf("%s: no request was sent after the change", what)
	}
}

func TestMCPTokenRegenerated(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Regenerated", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	for round := range 5 {
		mcpPost(t, tokenURL, ping).wantSSE(t)
		stop := make(chan struct{})
		wait := hammer(tokenURL, 8, stop)
		time.Sleep(5 * time.Millisecond) // let the hammer run into the change
		r := ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil).want(t, http.StatusOK)
		changed := time.Now()
		// Keep hammering a little after the response.
		for n := 0; n < 50; n++ {
			mcpPost(t, tokenURL, ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
		}
		close(stop)
		checkRefusedAfter(t, "old token", wait(), changed, http.StatusUnauthorized)
		newURL := r.str("accessUrl")
		if newURL == tokenURL {
			t.Fatalf("round %d: same accessUrl", round)
		}
		mcpPost(t, newURL, ping).wantSSE(t)
		// The API-key route is not affected by the token.
		mcpPost(t, ts.URL+"/mcp/"+id, ping, "Authorization", "Bearer "+ts.AdminKey).wantSSE(t)
		tokenURL = newURL
	}
}

func TestMCPServerDeleted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	jwt := ts.mint("admin", nil)
	for round := range 3 {
		id, tokenURL := ts.mcpServer(map[string]any{"name": "Doomed " + string(rune('A'+round)), "rateLimit": map[string]any{"requestsPerMinute": 100000}})
		keyRoute := ts.URL + "/mcp/" + id
		admin := []string{"Authorization", "Bearer " + ts.AdminKey}
		mcpPost(t, tokenURL, ping).wantSSE(t)
		mcpPost(t, keyRoute, ping, admin...).wantSSE(t)
		stopToken, stopKey := make(chan struct{}), make(chan struct{})
		waitToken := hammer(tokenURL, 4, stopToken)
		waitKey := hammer(keyRoute, 4, stopKey, admin...)
		time.Sleep(5 * time.Millisecond)
		ts.call("DELETE", "/api/servers/"+id, nil).want(t, http.StatusOK)
		changed := time.Now()
		unknown := mcpPost(t, ts.URL+"/mcp/"+id+"/mcp_token_"+strings.Repeat("B", 40), ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
		deleted := mcpPost(t, tokenURL, ping).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
		if withoutRequestID(deleted) != withoutRequestID(unknown) {
			t.Errorf("deleted server %s differs from an unknown token %s", deleted.Body, unknown.Body)
		}
		mcpPost(t, keyRoute, ping, admin...).wantEnv(t, http.StatusNotFound, "NOT_FOUND")
		mcpPost(t, ts.URL+"/mcp", ping, append([]string{"x-mcp-server-id", id}, admin...)...).wantEnv(t, http.StatusNotFound, "NOT_FOUND")
		mcpPost(t, keyRoute, ping, "Authorization", "Bearer "+jwt).wantEnv(t, http.StatusNotFound, "NOT_FOUND")
		close(stopToken)
		close(stopKey)
		checkRefusedAfter(t, "token URL", waitToken(), changed, http.StatusUnauthorized)
		checkRefusedAfter(t, "API key route", waitKey(), changed, http.StatusNotFound)
	}
}

// A server changed through the API applies to the very next request even
// while other requests keep reading its configuration (§5.6, §17.6).
func TestMCPServerUpdateAppliesAtOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Switching", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	for round := range 5 {
		stop := make(chan struct{})
		wait := hammer(tokenURL, 8, stop)
		time.Sleep(5 * time.Millisecond)
		users := []string{"nobody"}
		if round%2 == 1 {
			users = []string{"admin"}
		}
		ts.call("PUT", "/api/servers/"+id, map[string]any{"restrictions": map[string]any{"users": map[string]any{"allowedIds": users}}}).want(t, http.StatusOK)
		changed := time.Now()
		want := http.StatusForbidden
		if round%2 == 1 {
			want = http.StatusOK
		}
		for n := 0; n < 30; n++ {
			if r := mcpPost(t, tokenURL, ping); r.Status != want {
				t.Fatalf("round %d: %d after the update, want %d", round, r.Status, want)
			}
		}
		close(stop)
		checkRefusedAfter(t, "users restriction", wait(), changed, want)
	}
}

// Concurrent regenerations while other requests refill the cached
// configuration: once every regenerate response is back, exactly the
// stored token works. A configuration read before a change and cached
// after it would keep an old token alive (or the new one refused) for the
// config TTL.
func TestMCPTokenRegeneratedConcurrently(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Churn", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	probe := ts.URL + "/mcp/" + id + "/mcp_token_" + strings.Repeat("C", 40) // every request reads the configuration
	urls := []string{tokenURL}
	for round := range 10 {
		stop := make(chan struct{})
		wait := hammer(probe, 4, stop)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil)
				mu.Lock()
				urls = append(urls, r.str("accessUrl"))
				mu.Unlock()
			}()
		}
		wg.Wait()
		current := ts.call("GET", "/api/servers/"+id, nil).want(t, http.StatusOK).str("accessUrl")
		for _, u := range urls {
			r := mcpPost(t, u, ping)
			switch {
			case u == current && r.Status != http.StatusOK:
				t.Fatalf("round %d: the current token is refused: %d %s", round, r.Status, r.Body)
			case u != current && r.Status != http.StatusUnauthorized:
				t.Fatalf("round %d: an old token is accepted: %d", round, r.Status)
			}
		}
		close(stop)
		wait()
	}
}
