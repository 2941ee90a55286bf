package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

// §2 routing and media types, §17 operations, §9 management rate limit.

func TestAPIRouting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createServer("Routed").str("serverId")
	for _, p := range []string{"/api", "/api/", "/api/nope", "/api/servers/", "/api/servers/" + id + "/", "/API/servers",
		"/api/Servers", "/api/servers/" + id + "/extra", "/api/keys/", "/api/account/", "/nothing",
		"/api/users/u1/token/"} {
		t.Run(p, func(t *testing.T) {
			for _, h := range [][]string{nil, {"Authorization", ""}} {
				r := ts.call("GET", p, nil, h...).wantErr(t, http.StatusNotFound, "NOT_FOUND")
				if len(r.JSON) != 1 {
					t.Fatalf("envelope: %s", r.Body)
				}
			}
		})
	}
	for _, tt := range []struct{ method, path, allow string }{
		{"PATCH", "/api/servers", "GET, POST"},
		{"DELETE", "/api/servers", "GET, POST"},
		{"POST", "/api/servers/" + id, "DELETE, GET, PUT"},
		{"GET", "/api/servers/" + id + "/regenerate-token", "POST"},
		{"PUT", "/api/keys", "GET, POST"},
		{"GET", "/api/keys/key_0000000000000000", "DELETE"},
		{"GET", "/api/users/u1/token", "POST"},
		{"DELETE", "/api/account", "GET, PUT"},
		{"GET", "/api/account/jwt-secret/rotate", "POST"},
		{"POST", "/api/audit", "GET"},
		{"OPTIONS", "/api/servers", "GET, POST"},
		{"HEAD", "/api/audit", "GET"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			r := ts.call(tt.method, tt.path, nil)
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != tt.allow {
				t.Fatalf("status %d Allow %q, want 405 %q", r.Status, r.Header.Get("Allow"), tt.allow)
			}
			if tt.method != "HEAD" {
				r.wantErr(t, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			}
		})
	}
	// Percent-encoded IDs are decoded once; an encoded slash is not a separator.
	ts.call("GET", "/api/servers/"+strings.Replace(id, "-", "%2D", 1), nil).want(t, http.StatusOK)
	ts.call("GET", "/api/servers/a%2Fb", nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
}

// Paths are matched exactly: dot segments and doubled slashes are other
// paths, never redirected or cleaned into a known route (§2).
func TestAPIRoutingNoCleaning(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, p := range []string{"/api/servers/../keys", "/api/./servers", "//api/servers", "/api//servers", "/api/servers/.",
		"/api/servers//regenerate-token", "/api/users//token", "/api/servers/a%2F..%2F..%2Fkeys", "/mcp/../api/keys", "/mcp//x"} {
		t.Run(p, func(t *testing.T) {
			r := rawRequest(t, ts.URL, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+ts.AdminKey+"\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(r.Body)
			if r.StatusCode != http.StatusNotFound || !strings.Contains(string(b), `"NOT_FOUND"`) || r.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q body %s, want 404 NOT_FOUND", r.StatusCode, r.Header.Get("Location"), b)
			}
		})
	}
}

// rawRequest writes a request verbatim (so that the path is not cleaned by
// the client) and reads the response.
func rawRequest(t *testing.T, base, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(strings.NewReader(string(b)))
	return res
}

func TestAPIBodyLimitsAndMediaType(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := `{"name":"x","description":"` + strings.Repeat("d", 1100) + `"}`
	ts.call("POST", "/api/servers", big).wantErr(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	// Also without a Content-Length (chunked), and before authentication.
	req, _ := http.NewRequest("POST", ts.URL+"/api/servers", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ts.AdminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "PAYLOAD_TOO_LARGE") || res.ContentLength == 0 {
		t.Fatalf("chunked: %d %s", res.StatusCode, b)
	}
	ts.call("PUT", "/api/account", big, "Authorization", "").wantErr(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	// Exactly at the limit is fine.
	exact := `{"name":"x","description":"` + strings.Repeat("d", 1024-len(`{"name":"x","description":""}`)) + `"}`
	if len(exact) != 1024 {
		t.Fatalf("len %d", len(exact))
	}
	ts.call("POST", "/api/servers", exact).want(t, http.StatusCreated)

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json-patch+json", "application/jsonx", "json", ""} {
		t.Run("415/"+ct, func(t *testing.T) {
			h := []string{"Content-Type", ct}
			r := ts.call("POST", "/api/servers", `{"name":"ct"}`, h...)
			if ct == "" {
				r = ts.call("POST", "/api/servers", `{"name":"ct"}`, "Content-Type", "")
			}
			r.wantErr(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		})
	}
	for i, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		ts.call("POST", "/api/servers", fmt.Sprintf(`{"name":"ok %d"}`, i), "Content-Type", ct).want(t, http.StatusCreated)
	}
	// An array over 1000 items anywhere in a management body.
	ts2 := newTestServer(t)
	items := strings.TrimSuffix(strings.Repeat(`"https://a.example/x",`, 1001), ",")
	ts2.call("PUT", "/api/account", `{"allowedRedirectUris":[`+items+`]}`).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", "allowedRedirectUris")
	ts2.call("POST", "/api/servers", `{"name":"x","extra":[`+items+`]}`).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
}

func TestAPIRequestID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tt := range []struct {
		name, in string
		kept     bool
	}{
		{"Simple", "abc-123", true},
		{"AllChars", "A.z_0-9", true},
		{"Max", strings.Repeat("r", 128), true},
		{"TooLong", strings.Repeat("r", 129), false},
		{"Space", "a b", false},
		{"Slash", "a/b", false},
		{"Colon", "trace:1", false},
		{"Unicode", "é", false},
		{"Absent", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/servers", "/api/nope", "/healthz"} {
				var h []string
				if tt.in != "" {
					h = []string{"X-Request-Id", tt.in}
				}
				r := ts.call("GET", path, nil, h...)
				got := r.Header.Get("X-Request-Id")
				if tt.kept && got != tt.in || !tt.kept && !reRequestID.MatchString(got) {
					t.Fatalf("%s: X-Request-Id %q for %q", path, got, tt.in)
				}
				if r.Status >= 400 && r.detail("requestId") != got {
					t.Fatalf("details.requestId %v, header %q", r.detail("requestId"), got)
				}
			}
		})
	}
	// Errors before authentication carry it too.
	r := ts.call("GET", "/api/servers", nil, "Authorization", "", "X-Request-Id", "unauth-1").wantErr(t, 401, "UNAUTHORIZED")
	if r.detail("requestId") != "unauth-1" {
		t.Fatalf("401 requestId %v", r.detail("requestId"))
	}
	// Each request gets its own.
	a, b := ts.call("GET", "/healthz", nil).Header.Get("X-Request-Id"), ts.call("GET", "/healthz", nil).Header.Get("X-Request-Id")
	if a == b {
		t.Fatalf("two requests share request ID %s", a)
	}
}

func TestAPIManagementRateLimit(t *testing.T) {
	t.Parallel()
	const n = 5
	ts := newTestServer(t, func(c *Config) { c.MgmtRateLimit = n })
	start := time.Now()
	for i := range n {
		r := ts.call("GET", "/api/servers", nil).want(t, http.StatusOK)
		if r.Header.Get("X-RateLimit-Limit") != strconv.Itoa(n) || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(n-1-i) {
			t.Fatalf("request %d: limit %q remaining %q", i, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < start.Add(59*time.Second).Unix() || reset > time.Now().Add(61*time.Second).Unix() {
			t.Fatalf("X-RateLimit-Reset %q", r.Header.Get("X-RateLimit-Reset"))
		}
		if r.Header.Get("Retry-After") != "" {
			t.Fatal("Retry-After on an admitted request")
		}
	}
	r := ts.call("GET", "/api/servers", nil).wantErr(t, http.StatusTooManyRequests, "RATE_LIMITED", "limit", n, "windowSeconds", 60)
	if m := r.JSON["error"].(map[string]any)["message"]; m != "Rate limit exceeded" {
		t.Fatalf("message %q", m)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 || r.detail("retryAfterSeconds") != float64(ra) {
		t.Fatalf("Retry-After %q retryAfterSeconds %v", r.Header.Get("Retry-After"), r.detail("retryAfterSeconds"))
	}
	if r.Header.Get("X-RateLimit-Limit") != strconv.Itoa(n) || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("429 headers %v", r.Header)
	}
	// Refusals are not counted, and every endpoint of the key shares the window.
	ts.call("POST", "/api/servers", `{"name":"x"}`).wantErr(t, http.StatusTooManyRequests, "RATE_LIMITED")
	ts.call("GET", "/api/keys", nil).wantErr(t, http.StatusTooManyRequests, "RATE_LIMITED")
	// Other keys (and JWT principals per user) have their own windows; a
	// failed authentication is not counted.
	other := ts.newAccount("other")
	for range n {
		ts.call("GET", "/api/servers", nil, bearer(other)...).want(t, http.StatusOK)
	}
	ts.call("GET", "/api/servers", nil, bearer(other)...).want(t, http.StatusTooManyRequests)
	for range 3 {
		ts.call("GET", "/api/servers", nil, "Authorization", "").want(t, http.StatusUnauthorized)
	}
	// X-Forwarded-For does not open a new window.
	ts.call("GET", "/api/servers", nil, "X-Forwarded-For", "198.51.100.7").want(t, http.StatusTooManyRequests)
	// JWT-only principals are limited per (account, user): two tokens of one
	// user share a window, another user has their own.
	jts := newTestServer(t, func(c *Config) { c.MgmtRateLimit = 2 })
	j1a := jts.mint("j1", nil)
	j1b := jts.mint("j1", `{"expiresInSeconds":60}`)
	j2 := newTestServerMint(t, jts, "j2")
	jts.call("GET", "/api/servers", nil, bearer(j1a)...).want(t, http.StatusOK)
	jts.call("GET", "/api/servers", nil, bearer(j1b)...).want(t, http.StatusOK)
	jts.call("GET", "/api/servers", nil, bearer(j1a)...).wantErr(t, http.StatusTooManyRequests, "RATE_LIMITED", "limit", 2)
	jts.call("GET", "/api/servers", nil, "Authorization", "", "x-alloy-user-token", j1b).want(t, http.StatusTooManyRequests)
	jts.call("GET", "/api/servers", nil, bearer(j2)...).want(t, http.StatusOK)
	// rate.limited is audited once per key and minute.
	third := ts.newAccount("third")
	for range n + 3 {
		ts.call("GET", "/api/servers", nil, bearer(third)...)
	}
	evs := ts.app.db
	got, _, err := evs.ListAudit(t.Context(), "third", auditFilter("rate.limited"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Details["limit"] != float64(n) {
		t.Fatalf("rate.limited events: %+v", got)
	}
}

func TestAPIHostOriginCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) {
		c.PublicURL = "https://gw.example.com"
		c.AllowedHosts = "internal.example.net, Alias.Example.org"
		c.AllowedOrigins = "https://app.example.com,http://localhost:5173"
	})
	for _, tt := range []struct {
		name, host string
		ok         bool
	}{
		{"Public", "gw.example.com", true},
		{"PublicWithPort", "gw.example.com:8443", true},
		{"PublicUpperCase", "GW.Example.COM", true},
		{"Localhost", "localhost:1234", true},
		{"IPv4Loopback", "127.0.0.1", true},
		{"IPv6Loopback", "[::1]:9", true},
		{"AllowedHost", "internal.example.net", true},
		{"AllowedHostCase", "alias.example.org:80", true},
		{"Other", "evil.example.com", false},
		{"Suffix", "gw.example.com.evil.net", false},
		{"OtherLoopbackAddr", "127.0.0.2", false},
	} {
		t.Run("Host/"+tt.name, func(t *testing.T) {
			for _, p := range []string{"/api/servers", "/api/nope", "/mcp/x"} {
				r := ts.call("GET", p, nil, "Host", tt.host)
				if tt.ok && r.Status == http.StatusForbidden {
					t.Fatalf("%s: %s", p, r.Body)
				}
				if !tt.ok {
					if r.Status != http.StatusForbidden {
						t.Fatalf("%s: status %d", p, r.Status)
					}
					if p == "/mcp/x" {
						if string(r.Body) != `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Forbidden: invalid Host header"},"id":null}` {
							t.Fatalf("mcp body %s", r.Body)
						}
						continue
					}
					r.wantErr(t, http.StatusForbidden, "FORBIDDEN", "reason", "host_not_allowed")
				}
			}
			// Operational endpoints do not check Host.
			ts.call("GET", "/healthz", nil, "Host", tt.host).want(t, http.StatusOK)
		})
	}
	// The Host check runs before authentication.
	ts.call("GET", "/api/servers", nil, "Host", "evil.example.com", "Authorization", "").wantErr(t, 403, "FORBIDDEN", "reason", "host_not_allowed")

	corsHeaders := func(r *resp) map[string]string {
		out := map[string]string{}
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
			"Access-Control-Max-Age", "Vary", "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials"} {
			if v := r.Header.Get(h); v != "" {
				out[h] = v
			}
		}
		return out
	}
	for _, tt := range []struct {
		name, origin string
		ok, cors     bool
	}{
		{"PublicOrigin", "https://gw.example.com", true, false},
		{"Listed", "https://app.example.com", true, true},
		{"ListedLocalhost", "http://localhost:5173", true, true},
		{"ListedOtherPort", "http://localhost:5174", false, false}, // public URL is not loopback
		{"Null", "null", false, false},
		{"Evil", "https://evil.example.com", false, false},
		{"SchemeDiffers", "http://app.example.com", false, false},
		{"PortDiffers", "https://app.example.com:444", false, false},
		{"SameAsHostHeader", "http://127.0.0.1", false, false},
	} {
		t.Run("Origin/"+tt.name, func(t *testing.T) {
			r := ts.call("GET", "/api/servers", nil, "Origin", tt.origin)
			if !tt.ok {
				r.wantErr(t, http.StatusForbidden, "FORBIDDEN", "reason", "origin_not_allowed")
				if len(corsHeaders(r)) != 0 {
					t.Fatalf("CORS headers on a refused origin: %v", corsHeaders(r))
				}
				m := ts.call("POST", "/mcp/x", `{}`, "Origin", tt.origin)
				if m.Status != 403 || string(m.Body) != `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Forbidden: Origin not allowed"},"id":null}` {
					t.Fatalf("mcp: %d %s", m.Status, m.Body)
				}
				return
			}
			r.want(t, http.StatusOK)
			want := map[string]string{}
			if tt.cors {
				want = map[string]string{"Access-Control-Allow-Origin": tt.origin, "Vary": "Origin",
					"Access-Control-Expose-Headers": "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Cache-Hit"}
			}
			if d := cmp.Diff(want, corsHeaders(r)); d != "" {
				t.Fatalf("CORS headers (-want +got):\n%s", d)
			}
			// Error responses to that origin carry them too.
			e := ts.call("GET", "/api/nope", nil, "Origin", tt.origin)
			if d := cmp.Diff(want, corsHeaders(e)); d != "" {
				t.Fatalf("CORS headers on 404 (-want +got):\n%s", d)
			}
		})
	}
	allowHeaders := "Authorization, Content-Type, Accept, MCP-Protocol-Version, x-alloy-userid, x-alloy-user-token, x-credential-id, " +
		"x-redirect-uri, x-mcp-server-id, x-alloy-timestamp, x-alloy-nonce, x-alloy-signature, X-Request-Id"
	for _, tt := range []struct{ path, methods string }{
		{"/api/servers", "GET, POST, PUT, DELETE"},
		{"/api/servers/x-00000000", "GET, POST, PUT, DELETE"},
		{"/api/nope", "GET, POST, PUT, DELETE"},
		{"/mcp/x", "POST"},
		{"/mcp", "POST"},
	} {
		t.Run("Preflight"+tt.path, func(t *testing.T) {
			r := ts.call("OPTIONS", tt.path, nil, "Authorization", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST",
				"Access-Control-Request-Headers", "authorization, content-type")
			if r.Status != http.StatusNoContent || len(r.Body) != 0 {
				t.Fatalf("preflight %d %s", r.Status, r.Body)
			}
			want := map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": tt.methods,
				"Access-Control-Allow-Headers": allowHeaders, "Access-Control-Max-Age": "600", "Vary": "Origin"}
			if d := cmp.Diff(want, corsHeaders(r)); d != "" {
				t.Fatalf("preflight headers (-want +got):\n%s", d)
			}
		})
	}
	// A preflight from the public origin (not listed) gets no CORS: it is an
	// OPTIONS like any other (405).
	r := ts.call("OPTIONS", "/api/servers", nil, "Origin", "https://gw.example.com", "Access-Control-Request-Method", "GET")
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted preflight: %d %v", r.Status, r.Header)
	}
	// OPTIONS without Access-Control-Request-Method is not a preflight.
	r = ts.call("OPTIONS", "/api/servers", nil, "Origin", "https://app.example.com")
	if r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("OPTIONS without preflight: %d", r.Status)
	}
	// Preflights are not rate limited nor authenticated: many in a row pass.
	for range 3 {
		ts.call("OPTIONS", "/api/keys", nil, "Authorization", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET").want(t, 204)
	}
}

func TestAPILoopbackOrigins(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t) // public URL http://127.0.0.1:<port>
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"http://localhost:3000", true},
		{"http://127.0.0.1:1", true},
		{"http://[::1]:8080", true},
		{"http://localhost", true},
		{ts.URL, true},
		{"https://localhost:3000", false},
		{"http://localhost.evil.com", false},
		{"http://127.0.0.2:80", false},
		{"http://example.com", false},
	} {
		t.Run(tt.origin, func(t *testing.T) {
			r := ts.call("GET", "/api/servers", nil, "Origin", tt.origin)
			if tt.ok {
				r.want(t, http.StatusOK)
				if r.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Fatal("CORS for an origin not listed in --allowed-origins")
				}
				return
			}
			r.wantErr(t, http.StatusForbidden, "FORBIDDEN", "reason", "origin_not_allowed")
		})
	}
}

func TestAPIOpsEndpoints(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.call("GET", "/healthz", nil, "Authorization", "").want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"status": "ok"}, r.JSON); d != "" {
		t.Fatal(d)
	}
	r = ts.call("GET", "/readyz", nil, "Authorization", "").want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"status": "ready", "checks": map[string]any{"database": "ok", "redis": "disabled", "encryption": "ok"}}, r.JSON); d != "" {
		t.Fatalf("readyz (-want +got):\n%s", d)
	}
	// Generate traffic with IDs and tokens in paths, then read the metrics.
	c := ts.createServer("Metered")
	id, tok := c.str("serverId"), c.str("accessToken")
	ts.call("GET", "/api/servers/"+id, nil).want(t, http.StatusOK)
	ts.call("GET", "/api/servers/"+id+"-nope", nil).want(t, http.StatusNotFound)
	ts.call("POST", "/mcp/"+id+"/"+tok, `{}`)
	k := ts.createKey("", map[string]any{"name": "m", "role": "user"})
	ts.call("DELETE", "/api/keys/"+k.ID, nil).want(t, http.StatusOK)
	ts.call("POST", "/api/users/cust-secret-user/token", nil).want(t, http.StatusOK)
	ts.call("GET", "/api/audit?userId=cust-secret-user", nil).want(t, http.StatusOK)
	ts.call("GET", "/"+tok, nil)

	m := ts.call("GET", "/metrics", nil, "Authorization", "").want(t, http.StatusOK)
	text := string(m.Body)
	if !strings.HasPrefix(m.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics Content-Type %q", m.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`patchbay_http_requests_total{code="201",face="api",route="POST /api/servers"}`,
		`patchbay_http_requests_total{code="200",face="api",route="GET /api/servers/{serverId}"}`,
		`patchbay_http_requests_total{code="404",face="api",route="GET /api/servers/{serverId}"}`,
		`patchbay_http_requests_total{code="200",face="api",route="DELETE /api/keys/{keyId}"}`,
		`patchbay_http_requests_total{code="200",face="api",route="POST /api/users/{userId}/token"}`,
		`patchbay_http_requests_total{code="200",face="ops",route="GET /healthz"}`,
		`patchbay_http_requests_total{code="200",face="ops",route="GET /readyz"}`,
		`patchbay_http_request_duration_seconds_bucket{face="api",route="POST /api/servers",le=`,
		`patchbay_build_info{`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{id, tok, k.ID, "cust-secret-user", ts.AdminKey, "default"} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "patchbay_") && strings.Contains(line, secret) {
				t.Errorf("metric label holds %q: %s", secret, line)
			}
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

// newTestServerMint mints a JWT for user with a key of its own, so that the
// bootstrap key's (exhausted) window is not needed.
func newTestServerMint(t *testing.T, ts *testServer, user string) string {
	t.Helper()
	key, err := createKey(t.Context(), ts.app.db, ts.app.vault, "default", "minter", "admin", "minter", "")
	if err != nil {
		t.Fatal(err)
	}
	return ts.call("POST", "/api/users/"+user+"/token", nil, bearer(key)...).want(t, http.StatusOK).str("token")
}

func auditFilter(typ string) patchbay.AuditFilter { return patchbay.AuditFilter{Type: typ, Limit: 50} }

// §17.2: log lines carry the request ID and never a secret.
func TestAPILogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.createServer("Logged")
	id, tok := c.str("serverId"), c.str("accessToken")
	k := ts.createKey("", map[string]any{"name": "signed", "role": "admin", "requireSignature": true})
	s := sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
	ts.send(s, s.Target, "").want(t, http.StatusOK)
	jwt := ts.mint("cust-1", nil)
	ts.call("GET", "/api/servers", nil, bearer(jwt)...).want(t, http.StatusOK)
	ts.call("GET", "/api/servers", nil, "x-alloy-user-token", jwt+"x").want(t, http.StatusUnauthorized)
	ts.call("GET", "/api/servers", nil, bearer("pb_"+strings.Repeat("Q", 40))...).want(t, http.StatusUnauthorized)
	_, secret, _ := ts.rotate(60)
	ts.call("POST", "/mcp/"+id+"/"+tok, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "Accept", "application/json, text/event-stream")
	ts.call("GET", "/api/servers/"+id, nil, "X-Request-Id", "log-trace-1").want(t, http.StatusOK)

	logs := ts.logs.String()
	if !strings.Contains(logs, `"request_id":"log-trace-1"`) {
		t.Fatalf("no log line with the request ID:\n%s", logs)
	}
	for name, v := range map[string]string{"access token": tok, "admin key": ts.AdminKey, "signed key": k.Key, "signing secret": k.Secret,
		"signature": s.Header.Get("x-alloy-signature"), "JWT": jwt, "JWT signature": jwt[strings.LastIndex(jwt, ".")+1:],
		"bad key": "pb_" + strings.Repeat("Q", 40), "JWT secret": b64.EncodeToString(secret)} {
		if strings.Contains(logs, v) {
			t.Errorf("logs hold the %s", name)
		}
	}
	if !strings.Contains(logs, "/mcp/"+id+"/[REDACTED]") {
		t.Errorf("token URL path not logged redacted")
	}
}
