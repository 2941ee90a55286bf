package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Acceptance tests of the scaled-out deployment (§17.5, §17.6, §9, §13.5):
// two real `patchbay serve` processes on one PostgreSQL database and one
// Redis. Changes made on one instance reach the other within a second
// (the change notice; the contract's bound is --config-cache-ttl), rate
// windows and refresh locks are shared, and when Redis or PostgreSQL goes
// away the instances fail closed with 503, keep serving what they hold
// warm, and recover on their own.
//
// The times measured here are logged ("measured: ...") and quoted in
// docs/consistency.md.

// propagationLimit is what the tests require of a change notice: the
// contract allows --config-cache-ttl (5 s), Redis pub/sub normally takes
// milliseconds.
const propagationLimit = time.Second

// recoveryLimit bounds how long an instance may take to serve again after
// a dependency returns.
const recoveryLimit = 5 * time.Second

// api returns management clients of A and B that report to t.
func (c *cluster) api(t *testing.T) (a, b *testServer) {
	return &testServer{t: t, URL: c.A.URL, AdminKey: e2eAdminKey}, &testServer{t: t, URL: c.B.URL, AdminKey: e2eAdminKey}
}

func TestClusterPropagation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a, _ := c.api(t)
	plat := newPlatform(t)
	a.createConnector(connectorDef("clplat", "Cluster Plat", plat.URL))
	alice := a.createKey("", map[string]any{"name": "alice", "userId": "alice", "role": "user"})
	// The propagation polls must never meet the rate limit.
	id, tokenURL := a.mcpServer(map[string]any{"name": "Shared", "rateLimit": map[string]any{"requestsPerMinute": 100000}}, bearer(alice.Key)...)
	byKey := "/mcp/" + id

	t.Run("server created on A is usable through B", func(t *testing.T) {
		if names := toolNames(t, c.on(c.B, tokenURL)); !slices.Contains(names, "list_connectors_alloy") {
			t.Fatalf("tools/list through B: %v", names)
		}
		ids, err := connectorIDs(c.B.URL+byKey, bearer(alice.Key)...)
		if err != nil || !slices.Contains(ids, "clplat") {
			t.Fatalf("list_connectors_alloy through B with an API key: %v %v", ids, err)
		}
	})

	t.Run("token regenerated on A is refused by B", func(t *testing.T) {
		a, _ := c.api(t)
		old := c.on(c.B, tokenURL)
		// B holds the configuration warm.
		mcpPost(t, old, rpcBody("tools/list", nil)).result()
		r := a.call("POST", "/api/servers/"+id+"/regenerate-token", nil, bearer(alice.Key)...).want(t, http.StatusOK)
		start := time.Now()
		d, ok := within(start, 7*time.Second, func() bool {
			res, err := mcpTry(old, rpcBody("tools/list", nil))
			return err == nil && res.Status == http.StatusUnauthorized
		})
		measure(t, "regenerated token (A) refused by B", d)
		if !ok || d > propagationLimit {
			t.Fatalf("B accepted the old token for %v (refused: %v), want at most %v", d, ok, propagationLimit)
		}
		tokenURL = r.str("accessUrl")
		if res := mcpPost(t, c.on(c.B, tokenURL), rpcBody("tools/list", nil)); res.Status != http.StatusOK {
			t.Fatalf("new token through B: %d %s", res.Status, res.Body)
		}
	})

	t.Run("restriction added on B is enforced by A", func(t *testing.T) {
		_, b := c.api(t)
		onA := c.on(c.A, tokenURL)
		if ids, err := connectorIDs(onA); err != nil || !slices.Contains(ids, "clplat") {
			t.Fatalf("before: %v %v", ids, err)
		}
		b.call("PUT", "/api/servers/"+id, map[string]any{"restrictions": map[string]any{"connectors": map[string]any{"blockedIds": []string{"clplat"}}}},
			bearer(alice.Key)...).want(t, http.StatusOK)
		start := time.Now()
		d, ok := within(start, 7*time.Second, func() bool {
			ids, err := connectorIDs(onA)
			return err == nil && !slices.Contains(ids, "clplat")
		})
		measure(t, "restriction (B) enforced by A", d)
		if !ok || d > propagationLimit {
			t.Fatalf("A listed the blocked connector for %v (enforced: %v), want at most %v", d, ok, propagationLimit)
		}
		// Direct use is refused as well.
		tr := callTool(t, onA, "execute_action_alloy", map[string]any{"connectorId": "clplat", "actionId": "items_list", "parameters": map[string]any{}})
		if !tr.IsError {
			t.Fatalf("a blocked connector executed on A: %s", tr.Raw.Body)
		}
	})

	t.Run("API key deleted on A is refused by B", func(t *testing.T) {
		a, b := c.api(t)
		doomed := a.createKey("", map[string]any{"name": "doomed", "userId": "alice", "role": "user"})
		// B holds the key warm on both faces.
		b.call("GET", "/api/servers", nil, bearer(doomed.Key)...).want(t, http.StatusOK)
		if _, err := connectorIDs(c.B.URL+byKey, bearer(doomed.Key)...); err != nil {
			t.Fatal(err)
		}
		a.call("DELETE", "/api/keys/"+doomed.ID, nil).want(t, http.StatusOK)
		start := time.Now()
		d, ok := within(start, 7*time.Second, func() bool {
			res, err := mcpTry(c.B.URL+byKey, rpcBody("tools/list", nil), bearer(doomed.Key)...)
			return err == nil && res.Status == http.StatusUnauthorized
		})
		measure(t, "deleted API key (A) refused by B on the MCP face", d)
		if !ok || d > propagationLimit {
			t.Fatalf("B accepted the deleted key for %v (refused: %v), want at most %v", d, ok, propagationLimit)
		}
		b.call("GET", "/api/servers", nil, bearer(doomed.Key)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	})

	t.Run("rate limit is shared", func(t *testing.T) {
		a, _ := c.api(t)
		// A fresh server with the instance default (--rate-limit 100).
		_, limited := a.mcpServer(map[string]any{"name": "Limited"}, bearer(alice.Key)...)
		const goroutines, each = 50, 3
		var admitted, refused [2]atomic.Int64
		var other atomic.Int64
		var wg sync.WaitGroup
		startGun := make(chan struct{})
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGun
				for i := range each {
					n := (g + i) % 2 // alternate the instances
					res, err := mcpTry(c.on([]*proc{c.A, c.B}[n], limited), rpcBody("ping", nil))
					switch {
					case err != nil:
						t.Errorf("ping: %v", err)
						other.Add(1)
					case res.Status == http.StatusOK:
						admitted[n].Add(1)
					case res.Status == http.StatusTooManyRequests && res.envCode() == "RATE_LIMITED":
						refused[n].Add(1)
					default:
						t.Errorf("ping: %d %s", res.Status, res.Body)
						other.Add(1)
					}
				}
			}()
		}
		close(startGun)
		wg.Wait()
		ok := admitted[0].Load() + admitted[1].Load()
		t.Logf("admitted A=%d B=%d, refused A=%d B=%d", admitted[0].Load(), admitted[1].Load(), refused[0].Load(), refused[1].Load())
		if ok < 99 || ok > 101 || other.Load() != 0 || refused[0].Load() == 0 || refused[1].Load() == 0 {
			t.Fatalf("%d of %d requests admitted across both instances (%d other answers), want 100±1 and 429s from both",
				ok, goroutines*each, other.Load())
		}
	})
}

// Without Redis nothing tells the other instance: a change reaches it at
// the latest when its cached copy has lived --config-cache-ttl, plus one
// database round trip (§17.6).
func TestClusterWithoutRedis(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	c := newCluster(t, clusterOptions{noRedis: true, args: []string{"--config-cache-ttl", ttl.String()}})
	a, _ := c.api(t)
	wantReady(t, c.B, http.StatusOK, map[string]string{"database": "ok", "redis": "disabled", "encryption": "ok"})
	id, tokenURL := a.mcpServer(map[string]any{"name": "Polled", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	old := c.on(c.B, tokenURL)
	mcpPost(t, old, rpcBody("tools/list", nil)).result() // B caches the configuration now
	cached := time.Now()
	a.call("POST", "/api/servers/"+id+"/regenerate-token", nil).want(t, http.StatusOK)
	// A applies its own change before answering.
	if res := mcpPost(t, c.on(c.A, tokenURL), rpcBody("tools/list", nil)); res.Status != http.StatusUnauthorized {
		t.Fatalf("A accepted its own regenerated token: %d", res.Status)
	}
	d, ok := within(cached, ttl+2*time.Second, func() bool {
		res, err := mcpTry(old, rpcBody("tools/list", nil))
		return err == nil && res.Status == http.StatusUnauthorized
	})
	measure(t, "regenerated token (A) refused by B without Redis, after B cached it", d)
	if !ok || d > ttl+time.Second {
		t.Fatalf("B accepted the old token for %v after caching it (refused: %v), want at most --config-cache-ttl %v plus a round trip", d, ok, ttl)
	}
}

func TestClusterOAuthSingleRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	r := concurrentRefresh(t, c, 50)
	for _, e := range r.errors {
		t.Error(e)
	}
	if r.grants != 1 {
		t.Fatalf("%d refresh_token grants at the provider for 50 concurrent calls through two instances, want exactly 1", r.grants)
	}
	if r.status != "active" {
		t.Fatalf("credential %s after the refresh", r.status)
	}
}

// Without Redis there is no shared refresh lock: each instance refreshes
// at most once (single flight in the process), and a provider that rotates
// refresh tokens refuses the slower one's grant. That refusal must not
// undo the other instance's refresh (§13.5).
func TestClusterWithoutRedisRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{noRedis: true})
	r := concurrentRefresh(t, c, 20)
	if r.grants > 2 {
		t.Fatalf("%d refresh_token grants for 20 concurrent calls through two instances, want at most one per instance", r.grants)
	}
	if len(r.errors) > 0 || r.status != "active" {
		t.Fatalf("without the Redis lock (%d grants) the slower instance's refused grant undid the refresh: credential %s, "+
			"%d of 20 calls failed, e.g. %v", r.grants, r.status, len(r.errors), r.errors)
	}
}

// refreshResult is what concurrentRefresh saw.
type refreshResult struct {
	grants int64    // refresh_token grants at the provider
	errors []string // calls that failed or did not use the refreshed token
	status string   // the credential's status afterwards
}

// concurrentRefresh connects an OAuth credential through the real flow on
// A, lets its one-second token expire, and sends calls concurrently
// through both instances (alternating) while the provider's token
// endpoint is slow.
func concurrentRefresh(t *testing.T, c *cluster, calls int) refreshResult {
	t.Helper()
	a, _ := c.api(t)
	secrets := newCanaries()
	clientSecret := secrets.add("client secret", secretValue("cs-"))
	p := newProvider(t, secrets, "pb-client", clientSecret)
	p.redirectURI = c.A.URL + "/oauth/callback"
	gate := newTokenGate(t, p)
	a.createConnector(gatedConnectorDef("ofake", p, gate))
	a.call("PUT", "/api/connectors/ofake/oauth-app", map[string]any{"clientId": "pb-client", "clientSecret": clientSecret}).want(t, http.StatusOK)
	_, tokenURL := a.mcpServer(map[string]any{"name": "Refresher", "cache": false, "rateLimit": map[string]any{"requestsPerMinute": 100000}})

	// The token of the flow lives one second; refreshed ones an hour.
	p.setTTL(1, 3600)
	start := a.call("POST", "/api/connectors/ofake/credentials", map[string]any{"authenticationType": "oauth2"}).want(t, http.StatusOK).str("oauthUrl")
	q := newBrowser(t, nil).connect(start)
	credID := q.Get("credentialId")
	if q.Get("status") != "success" || !regexpCred.MatchString(credID) {
		t.Fatalf("connect: %v", q)
	}
	cr := a.call("GET", "/api/credentials/"+credID, nil).want(t, http.StatusOK)
	time.Sleep(time.Until(parseTime(t, cr.JSON["expiresAt"]).Add(10 * time.Millisecond)))
	if p.refreshes.Load() != 0 {
		t.Fatalf("%d refreshes before the calls", p.refreshes.Load())
	}
	// A slow token endpoint: while the first refresh is on its way, every
	// other caller on both instances has read the expired credential, so
	// only the shared refresh lock (§13.5) keeps them from refreshing too.
	gate.arm(func() { time.Sleep(300 * time.Millisecond) })

	errs := make([]string, calls)
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, name := c.A, "A"
			if i%2 == 1 {
				inst, name = c.B, "B"
			}
			<-startGun
			tr, err := toolTry(c.on(inst, tokenURL), "execute_action_alloy",
				map[string]any{"connectorId": "ofake", "actionId": "me_get", "parameters": map[string]any{}})
			switch {
			case err != nil:
				errs[i] = err.Error()
			case tr.IsError || tr.Meta["patchbay/credentialId"] != credID:
				errs[i] = outcome(tr.Raw, nil)
			case tr.Structured["tokenNumber"] == 1.0:
				errs[i] = "the expired token was used"
			}
			if errs[i] != "" {
				errs[i] = fmt.Sprintf("call %d through %s: %s", i, name, errs[i])
			}
		}()
	}
	close(startGun)
	wg.Wait()
	r := refreshResult{grants: p.refreshes.Load()}
	for _, e := range errs {
		if e != "" {
			r.errors = append(r.errors, e)
		}
	}
	r.status = a.call("GET", "/api/credentials/"+credID, nil).want(t, http.StatusOK).str("status")
	return r
}

func TestClusterRedisOutage(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a, _ := c.api(t)
	alice := a.createKey("", map[string]any{"name": "alice", "userId": "alice", "role": "user"})
	id, tokenURL := a.mcpServer(map[string]any{"name": "Through outages", "rateLimit": map[string]any{"requestsPerMinute": 100000}}, bearer(alice.Key)...)
	byKey := "/mcp/" + id
	procs := map[string]*proc{"A": c.A, "B": c.B}
	allOK := map[string]string{"database": "ok", "redis": "ok", "encryption": "ok"}
	for name, p := range procs {
		if res := mcpPost(t, c.on(p, tokenURL), rpcBody("tools/list", nil)); res.Status != http.StatusOK {
			t.Fatalf("%s before the outage: %d %s", name, res.Status, res.Body)
		}
		wantReady(t, p, http.StatusOK, allOK)
	}

	// Clients keep calling through both instances the whole time: every
	// answer is a success or the 503 envelope, none hangs.
	traffic := startLoad(4, func(w, i int) string {
		return outcome(mcpTry(c.on([]*proc{c.A, c.B}[(w+i)%2], tokenURL), rpcBody("tools/list", nil)))
	})
	time.Sleep(50 * time.Millisecond)

	c.redis.Stop()
	for name, p := range procs {
		t.Run("down/"+name, func(t *testing.T) {
			for _, tt := range []struct {
				name, url string
				headers   []string
			}{
				{"token URL", c.on(p, tokenURL), nil},
				{"API key", p.URL + byKey, bearer(alice.Key)},
			} {
				start := time.Now()
				res := mcpPost(t, tt.url, rpcBody("tools/list", nil), tt.headers...)
				d := time.Since(start)
				measure(t, "MCP answer without Redis ("+tt.name+", "+name+")", d)
				res.wantEnv(t, http.StatusServiceUnavailable, "UNAVAILABLE")
				if d > time.Second {
					t.Fatalf("%s: the 503 took %v", tt.name, d)
				}
			}
			srv := &testServer{t: t, URL: p.URL, AdminKey: e2eAdminKey}
			srv.call("GET", "/api/servers", nil).wantErr(t, http.StatusServiceUnavailable, "UNAVAILABLE")
			wantReady(t, p, http.StatusServiceUnavailable, map[string]string{"database": "ok", "redis": "error", "encryption": "ok"})
		})
	}

	c.redis.Start()
	back := time.Now()
	for name, p := range procs {
		t.Run("back/"+name, func(t *testing.T) {
			d, ok := within(back, recoveryLimit, func() bool {
				res, err := mcpTry(c.on(p, tokenURL), rpcBody("tools/list", nil))
				return err == nil && res.Status == http.StatusOK
			})
			measure(t, "MCP serving again after Redis returned ("+name+")", d)
			if !ok {
				t.Fatalf("%s still fails %v after Redis returned", name, d)
			}
			res := mcpPost(t, p.URL+byKey, rpcBody("tools/list", nil), bearer(alice.Key)...)
			if res.Status != http.StatusOK {
				t.Fatalf("API key after the outage: %d %s", res.Status, res.Body)
			}
			wantReady(t, p, http.StatusOK, allOK)
		})
	}

	// A hung Redis (it accepts connections and answers nothing) costs a
	// request the client's timeout, not a hang.
	c.redis.Pause()
	t.Run("hung", func(t *testing.T) {
		start := time.Now()
		res := mcpPost(t, c.on(c.A, tokenURL), rpcBody("tools/list", nil))
		d := time.Since(start)
		measure(t, "MCP answer with a hung Redis", d)
		res.wantEnv(t, http.StatusServiceUnavailable, "UNAVAILABLE")
		if d > 2*time.Second {
			t.Fatalf("the 503 took %v", d)
		}
	})
	c.redis.Resume()
	resumed := time.Now()
	t.Run("resumed", func(t *testing.T) {
		for name, p := range procs {
			d, ok := within(resumed, recoveryLimit, func() bool {
				res, err := mcpTry(c.on(p, tokenURL), rpcBody("tools/list", nil))
				return err == nil && res.Status == http.StatusOK
			})
			measure(t, "MCP serving again after Redis resumed ("+name+")", d)
			if !ok {
				t.Fatalf("%s still fails %v after Redis resumed", name, d)
			}
		}
	})
	answers, slowest := traffic.finish()
	t.Run("traffic through the outages", func(t *testing.T) {
		t.Logf("answers %v, slowest %v", answers, slowest)
		for o := range answers {
			if o != "ok" && o != "503 UNAVAILABLE" {
				t.Errorf("%d answers %q", answers[o], o)
			}
		}
		if answers["ok"] == 0 || answers["503 UNAVAILABLE"] == 0 {
			t.Errorf("the traffic did not see both states: %v", answers)
		}
		measure(t, "slowest answer of the traffic through the Redis outages", slowest)
		if slowest > 2*time.Second {
			t.Errorf("an answer took %v", slowest)
		}
	})

	// Change notices flow again once the subscription is back; until then
	// --config-cache-ttl bounds staleness (§17.6).
	t.Run("notices after the outage", func(t *testing.T) {
		a, _ := c.api(t)
		old := c.on(c.B, tokenURL)
		mcpPost(t, old, rpcBody("tools/list", nil))
		a.call("POST", "/api/servers/"+id+"/regenerate-token", nil, bearer(alice.Key)...).want(t, http.StatusOK)
		start := time.Now()
		d, ok := within(start, 7*time.Second, func() bool {
			res, err := mcpTry(old, rpcBody("tools/list", nil))
			return err == nil && res.Status == http.StatusUnauthorized
		})
		measure(t, "regenerated token (A) refused by B after the Redis outage", d)
		if !ok || d > propagationLimit {
			t.Fatalf("B accepted the old token for %v (refused: %v), want at most %v", d, ok, propagationLimit)
		}
	})
}

func TestClusterPostgresOutage(t *testing.T) {
	t.Parallel()
	// A short config TTL, so that the warm requests below are served past
	// it, from what the instances keep through an outage (§17.5).
	const ttl = time.Second
	c := newCluster(t, clusterOptions{ownPostgres: true, args: []string{"--config-cache-ttl", ttl.String()}})
	ctx := context.Background()
	a, _ := c.api(t)
	procs := map[string]*proc{"A": c.A, "B": c.B}

	// Before the outage: an API-key credential on a platform, an OAuth
	// credential whose token is about to expire, a server used on both
	// instances (warm) and one never used (cold), a key used on both
	// instances and one never used.
	plat := newPlatform(t)
	a.createConnector(connectorDef("clplat", "Cluster Plat", plat.URL))
	alice := a.createKey("", map[string]any{"name": "alice", "userId": "alice", "role": "user"})
	coldKey := a.createKey("", map[string]any{"name": "cold", "userId": "alice", "role": "user"})
	platKey := secretValue("pk-")
	plat.expect(platKey, "alice")
	apiCred := a.storeCredential("clplat", "apiKey", platKey, "", bearer(alice.Key)...)
	secrets := newCanaries()
	clientSecret := secrets.add("client secret", secretValue("cs-"))
	prov := newProvider(t, secrets, "pb-client", clientSecret)
	prov.redirectURI = c.A.URL + "/oauth/callback"
	gate := newTokenGate(t, prov)
	a.createConnector(gatedConnectorDef("ofake", prov, gate))
	a.call("PUT", "/api/connectors/ofake/oauth-app", map[string]any{"clientId": "pb-client", "clientSecret": clientSecret}).want(t, http.StatusOK)
	prov.setTTL(30, 3600) // under a minute: the next call refreshes first
	q := newBrowser(t, nil).connect(a.call("POST", "/api/connectors/ofake/credentials", map[string]any{"authenticationType": "oauth2"},
		bearer(alice.Key)...).want(t, http.StatusOK).str("oauthUrl"))
	oauthCred := q.Get("credentialId")
	if q.Get("status") != "success" {
		t.Fatalf("connect: %v", q)
	}
	rl := map[string]any{"requestsPerMinute": 100000}
	warmID, warmURL := a.mcpServer(map[string]any{"name": "Warm", "cache": false, "rateLimit": rl}, bearer(alice.Key)...)
	coldID, coldURL := a.mcpServer(map[string]any{"name": "Cold", "cache": false, "rateLimit": rl}, bearer(alice.Key)...)
	items := map[string]any{"connectorId": "clplat", "actionId": "items_get", "parameters": map[string]any{"itemId": "1"}}
	me := map[string]any{"connectorId": "ofake", "actionId": "me_get", "parameters": map[string]any{}}

	jwt := a.mint("alice", map[string]any{})

	// warm is what a client of the warm server does: tools/list on the
	// token URL and with a user JWT, list_connectors_alloy with an API key,
	// and a platform call with a stored credential.
	warm := func(p *proc) []string {
		var failed []string
		if res, err := mcpTry(c.on(p, warmURL), rpcBody("tools/list", nil)); err != nil || res.Status != http.StatusOK {
			failed = append(failed, "tools/list: "+describe(res, err))
		}
		if res, err := mcpTry(p.URL+"/mcp/"+warmID, rpcBody("tools/list", nil), "Authorization", "Bearer "+jwt); err != nil || res.Status != http.StatusOK {
			failed = append(failed, "tools/list with a user JWT: "+describe(res, err))
		}
		if ids, err := connectorIDs(p.URL+"/mcp/"+warmID, bearer(alice.Key)...); err != nil || !slices.Contains(ids, "clplat") {
			failed = append(failed, "list_connectors_alloy with an API key: "+errString(err))
		}
		tr, err := toolTry(c.on(p, warmURL), "execute_action_alloy", items)
		if err != nil || tr.IsError || tr.Structured["owner"] != "alice" {
			failed = append(failed, "execute_action_alloy: "+describeTool(tr, err))
		}
		return failed
	}
	for name, p := range procs {
		if f := warm(p); len(f) > 0 {
			t.Fatalf("%s before the outage: %v", name, f)
		}
		wantReady(t, p, http.StatusOK, map[string]string{"database": "ok", "redis": "ok", "encryption": "ok"})
	}

	// Clients of the warm server keep calling through both instances the
	// whole time: each of their calls is served, before, during and after.
	var servedMu sync.Mutex
	served := map[string]bool{} // request IDs of the traffic's answered calls
	traffic := startLoad(2, func(w, i int) string {
		tr, err := toolTry(c.on([]*proc{c.A, c.B}[(w+i)%2], warmURL), "execute_action_alloy", items)
		if err != nil {
			return "error: " + err.Error()
		}
		servedMu.Lock()
		served[tr.Raw.Header.Get("X-Request-Id")] = true
		servedMu.Unlock()
		return outcome(tr.Raw, nil)
	})

	// The outage begins in the middle of a token refresh: the provider has
	// issued new tokens (and retired the refresh token) but Patchbay cannot
	// store them.
	var down time.Time
	stopped := make(chan time.Time, 1)
	gate.arm(func() {
		c.pg.Stop()
		stopped <- time.Now()
	})
	t.Run("refresh interrupted", func(t *testing.T) {
		start := time.Now()
		tr, err := toolTry(c.on(c.A, warmURL), "execute_action_alloy", me)
		measure(t, "call whose refresh the outage interrupted", time.Since(start))
		t.Logf("the interrupted call answered %s", describeTool(tr, err))
		select {
		case down = <-stopped:
		default:
			t.Fatal("the call did not refresh")
		}
		if err == nil && !tr.IsError {
			t.Fatalf("a refresh that could not be stored reported success: %s", tr.Raw.Body)
		}
		if err == nil && tr.code() != "UNAVAILABLE" {
			t.Fatalf("interrupted refresh: %s, want the UNAVAILABLE tool error", tr.Raw.Body)
		}
	})
	if down.IsZero() {
		c.pg.Stop()
		down = time.Now()
	}

	t.Run("management writes answer 503 at once", func(t *testing.T) {
		for name, p := range procs {
			srv := &testServer{t: t, URL: p.URL, AdminKey: e2eAdminKey}
			start := time.Now()
			r := srv.call("POST", "/api/servers", map[string]any{"name": "During the outage"})
			d := time.Since(start)
			measure(t, "management write without PostgreSQL ("+name+")", d)
			r.wantErr(t, http.StatusServiceUnavailable, "UNAVAILABLE")
			if d > time.Second {
				t.Fatalf("%s: the 503 took %v", name, d)
			}
			wantReady(t, p, http.StatusServiceUnavailable, map[string]string{"database": "error", "redis": "ok", "encryption": "ok"})
		}
	})

	// Past the config TTL every positive cache entry is due for a check
	// that cannot happen; warm requests are still served (§17.5).
	time.Sleep(time.Until(down.Add(ttl + 200*time.Millisecond)))
	t.Run("warm requests are served", func(t *testing.T) {
		for name, p := range procs {
			if f := warm(p); len(f) > 0 {
				t.Errorf("%s, %v into the outage: %v", name, time.Since(down).Round(time.Millisecond), f)
			}
		}
	})
	t.Run("cold requests answer 503 within a second", func(t *testing.T) {
		for name, p := range procs {
			for _, tt := range []struct {
				name, url string
				headers   []string
			}{
				{"cold server", c.on(p, coldURL), nil},
				{"cold API key", p.URL + "/mcp/" + warmID, bearer(coldKey.Key)},
			} {
				start := time.Now()
				res := mcpPost(t, tt.url, rpcBody("tools/list", nil), tt.headers...)
				d := time.Since(start)
				measure(t, "cold MCP request without PostgreSQL ("+tt.name+", "+name+")", d)
				res.wantEnv(t, http.StatusServiceUnavailable, "UNAVAILABLE")
				if d > time.Second {
					t.Fatalf("%s, %s: the 503 took %v", name, tt.name, d)
				}
			}
		}
	})

	c.pg.Start()
	back := time.Now()
	t.Run("recovery", func(t *testing.T) {
		for name, p := range procs {
			srv := &testServer{t: t, URL: p.URL, AdminKey: e2eAdminKey}
			d, ok := within(back, recoveryLimit, func() bool {
				r := srv.call("PUT", "/api/servers/"+coldID, map[string]any{"description": "written after the outage by " + name}, bearer(alice.Key)...)
				return r.Status == http.StatusOK
			})
			measure(t, "management writes again after PostgreSQL returned ("+name+")", d)
			if !ok {
				t.Fatalf("%s: management writes still fail %v after PostgreSQL returned", name, d)
			}
			d, ok = within(back, recoveryLimit, func() bool {
				res, err := mcpTry(c.on(p, coldURL), rpcBody("tools/list", nil))
				return err == nil && res.Status == http.StatusOK
			})
			measure(t, "cold MCP requests served again after PostgreSQL returned ("+name+")", d)
			if !ok {
				t.Fatalf("%s: the cold server still fails %v after PostgreSQL returned", name, d)
			}
			wantReady(t, p, http.StatusOK, map[string]string{"database": "ok", "redis": "ok", "encryption": "ok"})
		}
	})

	answers, slowest := traffic.finish()
	t.Run("warm traffic through the outage", func(t *testing.T) {
		t.Logf("answers %v, slowest %v", answers, slowest)
		measure(t, "slowest warm call through the PostgreSQL outage", slowest)
		if len(answers) != 1 || answers["ok"] == 0 {
			t.Fatalf("warm calls through the outage: %v", answers)
		}
	})

	t.Run("nothing was lost", func(t *testing.T) {
		a, b := c.api(t)
		for name, p := range procs {
			if f := warm(p); len(f) > 0 {
				t.Errorf("%s after the outage: %v", name, f)
			}
			if res := mcpPost(t, p.URL+"/mcp/"+warmID, rpcBody("tools/list", nil), bearer(coldKey.Key)...); res.Status != http.StatusOK {
				t.Errorf("%s: the key created before the outage: %d %s", name, res.Status, res.Body)
			}
		}
		l := b.call("GET", "/api/servers", nil, bearer(alice.Key)...).want(t, http.StatusOK)
		if got := idsOf(l.list("servers"), "serverId"); !slices.Contains(got, warmID) || !slices.Contains(got, coldID) || len(got) != 2 {
			t.Errorf("servers after the outage: %v", got)
		}
		a.call("GET", "/api/credentials/"+apiCred, nil, bearer(alice.Key)...).want(t, http.StatusOK)
	})

	// The audit events of calls served during the outage waited in the
	// instances and were written when the database returned (§16: every
	// tools/call).
	t.Run("audit of the calls served during the outage", func(t *testing.T) {
		a, _ := c.api(t)
		var missing []string
		d, ok := within(back, recoveryLimit, func() bool {
			events, _ := a.auditEvents("&type=tool.called&serverId=" + warmID)
			seen := map[string]bool{}
			for _, e := range events {
				id, _ := e["requestId"].(string)
				seen[id] = true
			}
			missing = missing[:0]
			for id := range served {
				if !seen[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				time.Sleep(200 * time.Millisecond) // the management rate limit
			}
			return len(missing) == 0
		})
		measure(t, "audit of the calls served during the outage written after PostgreSQL returned", d)
		if !ok {
			t.Fatalf("%d of %d calls have no tool.called event: %v", len(missing), len(served), missing)
		}
	})

	t.Run("the interrupted credential is whole", func(t *testing.T) {
		a, _ := c.api(t)
		stored, sec := c.storedSecret(ctx, "alice", oauthCred)
		if sec.AccessToken == "" || sec.RefreshToken == "" {
			t.Fatalf("stored secret of %s (%s) lacks tokens", oauthCred, stored.Status)
		}
		refreshes := prov.refreshes.Load()
		tr := callTool(t, c.on(c.B, warmURL), "execute_action_alloy", me)
		status := a.call("GET", "/api/credentials/"+oauthCred, nil, bearer(alice.Key)...).want(t, http.StatusOK).str("status")
		t.Logf("after the outage: credential %s, call %s", status, tr.Raw.Body)
		switch {
		case !tr.IsError && status == "active":
			// The stored tokens were still good.
		case tr.IsError && tr.code() == "CREDENTIAL_NOT_FOUND" && tr.detail("reason") == "needs_reauth" && status == "needs_reauth":
			// The provider had retired the stored refresh token: it was
			// read, decrypted and sent (one more grant), and refused.
			if prov.refreshes.Load() != refreshes+1 {
				t.Fatalf("%d refresh grants after the outage", prov.refreshes.Load()-refreshes)
			}
			reauth, _ := tr.detail("oauthUrl").(string)
			prov.redirectURI = c.B.URL + "/oauth/callback"
			q := newBrowser(t, nil).connect(reauth)
			if q.Get("status") != "success" || q.Get("credentialId") != oauthCred {
				t.Fatalf("reconnect: %v", q)
			}
			callTool(t, c.on(c.A, warmURL), "execute_action_alloy", me).wantOK(t)
		default:
			t.Fatalf("credential %s after an interrupted refresh: %s", status, tr.Raw.Body)
		}
	})
}

// describe summarises an MCP answer or transport error for messages.
func describe(res *mcpResp, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(res.Body)
}

func describeTool(tr *toolResult, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(tr.Raw.Body)
}

func errString(err error) string {
	if err == nil {
		return "unexpected list"
	}
	return err.Error()
}
