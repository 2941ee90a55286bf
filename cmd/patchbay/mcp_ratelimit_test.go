package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Acceptance point 3: the MCP rate limit (§9) under concurrency: exactly N
// requests of a burst are admitted, the rest get 429 with the §9 headers
// and body; users do not share budgets; client-IP headers change nothing.

// burst sends n concurrent pings and returns the answers.
func burst(t *testing.T, n int, rawURL string, headers func(i int) []string) []*mcpResp {
	t.Helper()
	out := make([]*mcpResp, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = mcpTry(rawURL, rpcBody("ping", nil), headers(i)...)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if out[i].DecodeErr != nil {
			t.Errorf("request %d: %v", i, out[i].DecodeErr)
		}
	}
	return out
}

// spoofed returns client-IP headers that differ on every request.
func spoofed(i int) []string {
	ip := fmt.Sprintf("203.0.%d.%d", i/250, i%250+1)
	return []string{"X-Forwarded-For", ip + ", 10.0.0.1", "Forwarded", "for=" + ip + ";proto=https", "X-Real-IP", ip,
		"True-Client-IP", ip, "CF-Connecting-IP", ip}
}

// checkBurst verifies that exactly limit answers (±1) are admitted and
// that every answer carries correct headers.
func checkBurst(t *testing.T, rs []*mcpResp, limit int, before time.Time) (admitted int) {
	t.Helper()
	after := time.Now()
	var remaining []int
	for i, r := range rs {
		hLimit, _ := strconv.Atoi(r.Header.Get("X-RateLimit-Limit"))
		hRemaining, err1 := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining"))
		hReset, err2 := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if hLimit != limit || err1 != nil || err2 != nil {
			t.Errorf("request %d: limit headers %v", i, r.Header)
			continue
		}
		// Reset: when the oldest admitted request leaves the window, rounded up.
		if hReset < before.Add(time.Minute).Unix() || hReset > after.Add(time.Minute).Unix()+1 {
			t.Errorf("request %d: X-RateLimit-Reset %d, burst at %d", i, hReset, before.Unix())
		}
		switch r.Status {
		case http.StatusOK:
			if r.result() == nil {
				t.Errorf("request %d: %s", i, r.Body)
			}
			admitted++
			remaining = append(remaining, hRemaining)
			if r.Header.Get("Retry-After") != "" {
				t.Errorf("request %d: Retry-After on an admitted request", i)
			}
		case http.StatusTooManyRequests:
			retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || retry < 1 || retry > 60 || hRemaining != 0 {
				t.Errorf("request %d: Retry-After %q Remaining %d", i, r.Header.Get("Retry-After"), hRemaining)
			}
			if int64(retry) < hReset-after.Unix()-1 || int64(retry) > hReset-before.Unix()+1 {
				t.Errorf("request %d: Retry-After %d does not match X-RateLimit-Reset %d", i, retry, hReset)
			}
			e, _ := r.Msg["error"].(map[string]any)
			if r.envCode() != "RATE_LIMITED" || e["message"] != "Rate limit exceeded" || r.envDetail("limit") != float64(limit) ||
				r.envDetail("windowSeconds") != float64(60) || r.envDetail("retryAfterSeconds") != float64(retry) || r.envDetail("requestId") == nil {
				t.Errorf("request %d: 429 body %s", i, r.Body)
			}
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %d: 429 Content-Type %q", i, r.Header.Get("Content-Type"))
			}
		default:
			t.Errorf("request %d: status %d %s", i, r.Status, r.Body)
		}
	}
	if admitted < limit-1 || admitted > limit {
		t.Errorf("%d of %d admitted, want %d", admitted, len(rs), limit)
	}
	// Remaining counts down: every admitted request saw a distinct value.
	slices.Sort(remaining)
	for i := 1; i < len(remaining); i++ {
		if remaining[i] == remaining[i-1] {
			t.Errorf("Remaining values repeat: %v", remaining)
			break
		}
	}
	if len(remaining) > 0 && (remaining[0] != limit-admitted || remaining[len(remaining)-1] != limit-1) {
		t.Errorf("Remaining values %v", remaining)
	}
	return admitted
}

func TestMCPRateLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const limit = 20
	id, tokenURL := ts.mcpServer(map[string]any{"name": "Limited", "rateLimit": map[string]any{"requestsPerMinute": limit}}, "x-alloy-userid", "alice")
	keyRoute := ts.URL + "/mcp/" + id
	asUser := func(user string) func(int) []string {
		return func(i int) []string {
			return append(spoofed(i), "Authorization", "Bearer "+ts.AdminKey, "x-alloy-userid", user)
		}
	}

	// Requests refused before the limiter do not count (§9).
	for _, h := range [][]string{{"Accept", "application/json"}, {"Content-Type", "text/plain"}} {
		for range 5 {
			if r := mcpPost(t, tokenURL, rpcBody("ping", nil), h...); r.Status == http.StatusOK {
				t.Fatalf("bad transport request admitted: %s", r.Body)
			}
		}
	}
	for range 5 {
		mcpPost(t, tokenURL+"x", rpcBody("ping", nil)).wantEnv(t, http.StatusUnauthorized, "UNAUTHORIZED")
	}

	// 50 concurrent clients as alice, each with other client-IP headers.
	before := time.Now()
	rs := burst(t, 50, tokenURL, spoofed)
	checkBurst(t, rs, limit, before)

	// Alice's budget is gone on every route and for every spoofed IP.
	for i := range 5 {
		mcpPost(t, tokenURL, rpcBody("ping", nil), spoofed(100+i)...).wantEnv(t, http.StatusTooManyRequests, "RATE_LIMITED")
		mcpPost(t, keyRoute, rpcBody("ping", nil), asUser("alice")(200+i)...).wantEnv(t, http.StatusTooManyRequests, "RATE_LIMITED")
	}
	// A tools/call is refused too; the 429 comes before any tool runs.
	mcpPost(t, tokenURL, rpcBody("tools/call", map[string]any{"name": "list_connectors_alloy", "arguments": map[string]any{}})).
		wantEnv(t, http.StatusTooManyRequests, "RATE_LIMITED")

	// Bob's burst on the same server has its own budget, and does not
	// touch carol's.
	before = time.Now()
	checkBurst(t, burst(t, 50, keyRoute, asUser("bob")), limit, before)
	before = time.Now()
	checkBurst(t, burst(t, 25, keyRoute, asUser("carol")), limit, before)

	// Another server of the same owner has its own budget.
	_, other := ts.mcpServer(map[string]any{"name": "Limited 2", "rateLimit": map[string]any{"requestsPerMinute": limit}}, "x-alloy-userid", "alice")
	before = time.Now()
	checkBurst(t, burst(t, 30, other, spoofed), limit, before)
}

// Every request that passes authentication counts, whatever happens at
// body parsing, the protocol version check or dispatch (§6.2, §9).
func TestMCPRateLimitCountsLaterFailures(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Counted", "rateLimit": map[string]any{"requestsPerMinute": 6}})
	steps := []struct {
		name   string
		body   string
		header []string
		status int
	}{
		{"ParseError", `{"jsonrpc":`, nil, http.StatusBadRequest},
		{"Batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, nil, http.StatusBadRequest},
		{"Notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, http.StatusAccepted},
		{"BadVersion", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []string{"MCP-Protocol-Version", "1999-01-01"}, http.StatusBadRequest},
		{"UnknownMethod", `{"jsonrpc":"2.0","id":1,"method":"nope"}`, nil, http.StatusOK},
		{"Initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, nil, http.StatusOK},
	}
	for i, s := range steps {
		r := mcpPost(t, url, s.body, s.header...)
		if r.Status != s.status {
			t.Fatalf("%s: %d %s", s.name, r.Status, r.Body)
		}
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(5-i) {
			t.Errorf("%s: X-RateLimit-Remaining %q, want %d", s.name, got, 5-i)
		}
	}
	mcpPost(t, url, rpcBody("ping", nil)).wantEnv(t, http.StatusTooManyRequests, "RATE_LIMITED")
}

// Unverified identities share a per-server aggregate of 10 × N on top of
// their own windows (§6.5 c, §9).
func TestMCPRateLimitUnverifiedAggregate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, url := ts.mcpServer(map[string]any{"name": "Open", "isPublic": true, "allowUnverifiedUserIds": true,
		"rateLimit": map[string]any{"requestsPerMinute": 2}})
	rs := burst(t, 30, url, func(i int) []string { return append(spoofed(i), "x-alloy-userid", fmt.Sprintf("anon-%d", i)) })
	admitted := 0
	for _, r := range rs {
		switch r.Status {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			if r.envDetail("limit") != float64(20) || r.Header.Get("X-RateLimit-Limit") != "20" {
				t.Errorf("aggregate 429 describes another window: %v %s", r.Header, r.Body)
			}
		default:
			t.Errorf("status %d %s", r.Status, r.Body)
		}
	}
	if admitted != 20 {
		t.Errorf("%d admitted, want 20", admitted)
	}
	// A verified user (JWT) is not part of the aggregate.
	r := mcpPost(t, url, rpcBody("ping", nil), "x-alloy-user-token", ts.mint("verified", nil))
	if r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "2" {
		t.Errorf("verified user: %d %v", r.Status, r.Header)
	}
}
