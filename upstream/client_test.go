package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

func TestListToolsAndMap(t *testing.T) {
	up := newFakeUpstream(t)
	c := newClient(t, &Options{Version: "1.2.3"})
	headers := map[string]patchbay.Secret{"X-Team": patchbay.NewSecret("42")}

	tools, err := c.ListTools(context.Background(), up.url("/mcp"), headers)
	if err != nil {
		t.Fatal(err)
	}
	// 10 tools in pages of 3: the listing followed nextCursor.
	if got := up.count("tools/list"); got != 4 {
		t.Errorf("tools/list requests = %d, want 4", got)
	}
	for _, s := range up.requests() {
		if s.Team != "42" || s.Auth != "" || s.UserAgent != "Patchbay/1.2.3" {
			t.Errorf("listing request %s %q: X-Team %q, Authorization %q, User-Agent %q", s.HTTPMethod, s.RPC, s.Team, s.Auth, s.UserAgent)
		}
	}

	def := MCPDefinition{ID: "fake", Name: "Fake", Description: "A fake", Categories: []string{"dev"},
		URL: up.url("/mcp"), Auth: []patchbay.AuthScheme{{Type: patchbay.AuthBearer}}, Headers: headers}
	conn, warnings, err := ToConnector(def, tools)
	if err != nil {
		t.Fatal(err)
	}
	obj := json.RawMessage(`{"type":"object"}`)
	act := func(id, tool, name string, ro, de, idem bool) patchbay.Action {
		return patchbay.Action{ID: id, Name: name, Method: "MCP", Parameters: obj, Tool: tool,
			ReadOnly: patchbay.Bool(ro), Destructive: patchbay.Bool(de), Idempotent: patchbay.Bool(idem)}
	}
	weather := act("weather_get_2", "weather.get", "Get weather", true, false, true)
	weather.Description = "Current weather in a city"
	// Verbatim: "zeta" stays before "alpha".
	weather.Parameters = json.RawMessage(`{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}`)
	want := &patchbay.Connector{
		ID: "fake", Name: "Fake", Description: "A fake", Categories: []string{"dev"}, Type: patchbay.ConnectorMCP,
		URL: up.url("/mcp"), Auth: def.Auth, Headers: headers,
		Resources: []patchbay.Resource{{ID: "tools", Name: "Tools", Actions: []patchbay.Action{
			// The upstream lists by name; the later of two ids that differ
			// only in case gets the suffix.
			act("Weather_Get", "Weather-Get", "Weather-Get", false, false, false),
			act("big", "big", "big", false, true, false),
			act("echo_args", "echo_args", "echo_args", false, true, false),
			act("fail", "fail", "fail", false, true, false),
			act("json_text", "json_text", "JSON text", false, false, false),
			act("multi", "multi", "multi", false, true, false),
			act("plain_text", "plain-text", "plain-text", false, true, false),
			act("slow", "slow", "slow", false, true, false),
			weather,
			act("whoami", "whoami", "whoami", false, true, false),
		}}},
	}
	if diff := cmp.Diff(want, conn, cmp.AllowUnexported(patchbay.Secret{})); diff != "" {
		t.Errorf("connector (-want +got):\n%s", diff)
	}
	wantWarnings := []string{`tool "weather.get": id "weather_get_2" (duplicate of an earlier tool's id)`}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestListToolsFailures(t *testing.T) {
	up := newFakeUpstream(t)
	closed := closedURL(t)
	tests := []struct {
		name    string
		url     string
		headers map[string]patchbay.Secret
		want    map[string]any
	}{
		{name: "ConnectionRefused", url: closed, want: map[string]any{"reason": "upstream_unreachable"}},
		{name: "Unauthorized", url: up.url("/secure/mcp"),
			headers: map[string]patchbay.Secret{"Authorization": patchbay.NewSecret("Bearer wrong-static-secret")},
			want:    map[string]any{"reason": "upstream_unreachable", "status": 401}},
		{name: "NotMCP", url: up.url("/nothing"), want: map[string]any{"reason": "upstream_unreachable", "status": 404}},
		{name: "BadURL", url: "ftp://example.com/mcp", want: map[string]any{"reason": "upstream_unreachable"}},
	}
	c := newClient(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListTools(context.Background(), tt.url, tt.headers)
			if code := patchbay.ErrorCode(err); code != patchbay.EInvalid {
				t.Fatalf("code = %q (%v), want %q", code, err, patchbay.EInvalid)
			}
			if diff := cmp.Diff(tt.want, patchbay.ErrorDetails(err)); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "wrong-static-secret") {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

// closedURL returns an http URL on a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/mcp"
}

func TestCallToolResults(t *testing.T) {
	up := newFakeUpstream(t)
	c := newClient(t, nil)
	conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
	cred := bearer("cred_results", "tok-results-abcdef")
	tests := []struct {
		name string
		tool string
		args string
		want string
	}{
		{name: "StructuredContent", tool: "weather.get", want: `{"city":"Paris","tempC":21}`},
		{name: "JSONText", tool: "json_text", want: `{"b":[2,3],"a":1}`},
		{name: "PlainText", tool: "plain-text", want: `"hello <world>"`},
		{name: "SeveralItems", tool: "multi", want: `[{"type":"text","text":"one"},{"type":"text","text":"two"}]`},
		{name: "ArgumentsVerbatim", tool: "echo_args", args: `{"z":1,"a":[true,null]}`, want: `{"z":1,"a":[true,null]}`},
		{name: "NoArguments", tool: "echo_args", want: `{}`},
		{name: "SecretRedacted", tool: "whoami", want: `"auth=[REDACTED]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.CallTool(context.Background(), conn, action(tt.tool), json.RawMessage(tt.args), cred)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(res.Value)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if res.Status != http.StatusOK || res.Attempts != 1 {
				t.Errorf("status %d, attempts %d; want 200, 1", res.Status, res.Attempts)
			}
		})
	}
	// One session served every call.
	if n := up.count("initialize"); n != 1 {
		t.Errorf("initialize requests = %d, want 1", n)
	}
	for _, s := range up.requests() {
		if s.RPC == "tools/call" && s.Session == "" {
			t.Errorf("tools/call without a session ID")
		}
	}
}

func TestCallToolErrors(t *testing.T) {
	up := newFakeUpstream(t)
	other := newFakeUpstream(t)
	up.redirectTo = other.url("/mcp")
	const token = "tok-errors-abcdef"
	strict, err := ssrf.New(nil) // the default policy: no http, no loopback
	if err != nil {
		t.Fatal(err)
	}
	allowAll := func(*url.URL) error { return nil }
	tests := []struct {
		name    string
		guard   *ssrf.Guard
		opts    *Options
		rawOpts bool // opts as given: no CheckURL means the https-only default
		url     string
		headers map[string]patchbay.Secret
		cred    *patchbay.CredentialMaterial
		tool    string
		code    string
		details map[string]any
		unauth  bool
	}{
		{name: "IsError", url: "/mcp", tool: "fail", code: patchbay.EUpstream,
			details: map[string]any{"result": json.RawMessage(`"boom"`)}},
		{name: "RPCError", url: "/mcp", tool: "nope", code: patchbay.EUpstream,
			details: map[string]any{"rpcError": map[string]any{"code": int64(-32602), "message": `unknown tool "nope"`}}},
		{name: "Unauthorized", url: "/secure/mcp", cred: bearer("cred_bad", "wrong-token-123456"), tool: "fail",
			code: patchbay.EUpstream, details: map[string]any{"status": 401}, unauth: true},
		{name: "ServiceUnavailable", url: "/mcp", headers: map[string]patchbay.Secret{"X-Fail": patchbay.NewSecret("503")},
			tool: "fail", code: patchbay.EUpstream, details: map[string]any{"status": 503, "retryAfterSeconds": 7}},
		{name: "Timeout", url: "/mcp", opts: &Options{Timeout: 300 * time.Millisecond}, tool: "slow",
			code: patchbay.EUpstreamTimeout, details: map[string]any{"timeoutSeconds": 1}},
		{name: "TooLarge", url: "/mcp", tool: "big", code: patchbay.EUpstream,
			details: map[string]any{"reason": "response_too_large"}},
		{name: "CrossOriginRedirectWithCredential", url: "/redirect/mcp", cred: bearer("cred_redir", token), tool: "fail",
			code: patchbay.EUpstream, details: map[string]any{"reason": "cross_origin_redirect", "status": 307}},
		{name: "CrossOriginRedirectWithStaticHeader", url: "/redirect/mcp",
			headers: map[string]patchbay.Secret{"X-Team": patchbay.NewSecret("42")}, tool: "fail",
			code: patchbay.EUpstream, details: map[string]any{"reason": "cross_origin_redirect", "status": 307}},
		{name: "BlockedURL", guard: strict, url: "/mcp", tool: "fail", code: patchbay.EUpstream,
			details: map[string]any{"reason": "destination_blocked"}},
		{name: "BlockedAtDial", guard: strict, opts: &Options{CheckURL: allowAll}, url: "/mcp", tool: "fail",
			code: patchbay.EUpstream, details: map[string]any{"reason": "destination_blocked"}},
		{name: "HTTPSOnlyByDefault", rawOpts: true, url: "/mcp", tool: "fail", code: patchbay.EUpstream,
			details: map[string]any{"reason": "destination_blocked"}},
		{name: "Unreachable", url: "closed", tool: "fail", code: patchbay.EUpstream,
			details: map[string]any{"reason": "upstream_unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.guard
			if g == nil {
				g = loopbackGuard(t)
			}
			var c *Client
			if tt.rawOpts {
				c = New(g.Client(0), tt.opts)
			} else {
				c = newGuardedClient(g, tt.opts)
			}
			defer c.Close()
			u := up.url(tt.url)
			if tt.url == "closed" {
				u = closedURL(t)
			}
			conn := mcpConnector(u, patchbay.AuthScheme{Type: patchbay.AuthBearer})
			conn.Headers = tt.headers
			cred := tt.cred
			if cred == nil {
				cred = bearer("cred_errors", token)
			}
			_, err := c.CallTool(context.Background(), conn, action(tt.tool), nil, cred)
			if code := patchbay.ErrorCode(err); code != tt.code {
				t.Fatalf("code = %q (%v), want %q", code, err, tt.code)
			}
			if diff := cmp.Diff(tt.details, patchbay.ErrorDetails(err)); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if got := IsUnauthorized(err); got != tt.unauth {
				t.Errorf("IsUnauthorized = %v, want %v", got, tt.unauth)
			}
			text := err.Error() + fmt.Sprint(patchbay.ErrorDetails(err))
			for _, secret := range []string{token, "wrong-token-123456"} {
				if strings.Contains(text, secret) {
					t.Errorf("error reveals a secret: %s", text)
				}
			}
		})
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

func TestRedirects(t *testing.T) {
	up := newFakeUpstream(t)
	other := newFakeUpstream(t)
	up.redirectTo = other.url("/mcp")
	c := newClient(t, nil)
	tests := []struct {
		name string
		url  string
		cred *patchbay.CredentialMaterial
		auth []patchbay.AuthScheme
		want string
	}{
		// Nothing secret to protect: a cross-origin redirect is followed.
		{name: "CrossOriginWithoutMaterial", url: up.url("/redirect/mcp"), want: `"ok"`},
		// Same origin: the credential goes along.
		{name: "SameOriginWithCredential", url: up.url("/moved/mcp"), cred: bearer("cred_moved", up.token),
			auth: []patchbay.AuthScheme{{Type: patchbay.AuthBearer}}, want: `"ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.CallTool(context.Background(), mcpConnector(tt.url, tt.auth...), action("Weather-Get"), nil, tt.cred)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(res.Value)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCredentialApplied(t *testing.T) {
	up := newFakeUpstream(t)
	c := newClient(t, nil)
	secrets := func(kv ...string) map[string]patchbay.Secret {
		m := map[string]patchbay.Secret{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = patchbay.NewSecret(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name   string
		scheme patchbay.AuthScheme
		cred   *patchbay.CredentialMaterial
		want   seen // Auth, APIKey, Query, Team of the tools/call request
	}{
		{name: "OAuth2", scheme: patchbay.AuthScheme{Type: patchbay.AuthOAuth2},
			cred: &patchbay.CredentialMaterial{CredentialID: "cred_o", AuthType: patchbay.AuthOAuth2, AccessToken: patchbay.NewSecret("at-1")},
			want: seen{Auth: "Bearer at-1", Team: "42"}},
		{name: "Bearer", scheme: patchbay.AuthScheme{Type: patchbay.AuthBearer},
			cred: &patchbay.CredentialMaterial{CredentialID: "cred_b", AuthType: patchbay.AuthBearer, Secrets: secrets("token", "bt-1")},
			want: seen{Auth: "Bearer bt-1", Team: "42"}},
		{name: "Basic", scheme: patchbay.AuthScheme{Type: patchbay.AuthBasic},
			cred: &patchbay.CredentialMaterial{CredentialID: "cred_u", AuthType: patchbay.AuthBasic, Secrets: secrets("username", "ada", "password", "pw")},
			want: seen{Auth: "Basic YWRhOnB3", Team: "42"}},
		{name: "APIKeyHeader", scheme: patchbay.AuthScheme{Type: patchbay.AuthAPIKey, In: "header", Name: "X-Api-Key", Prefix: "Token "},
			cred: &patchbay.CredentialMaterial{CredentialID: "cred_h", AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", "k-1")},
			want: seen{APIKey: "Token k-1", Team: "42"}},
		{name: "APIKeyQuery", scheme: patchbay.AuthScheme{Type: patchbay.AuthAPIKey, In: "query", Name: "key"},
			cred: &patchbay.CredentialMaterial{CredentialID: "cred_q", AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", "k 2")},
			want: seen{Query: "key=k+2", Team: "42"}},
		{name: "NoCredential", want: seen{Team: "42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := mcpConnector(up.url("/mcp"))
			if tt.scheme.Type != "" {
				conn.Auth = []patchbay.AuthScheme{tt.scheme}
			}
			conn.Headers = secrets("X-Team", "42")
			before := len(up.requests())
			if _, err := c.CallTool(context.Background(), conn, action("Weather-Get"), nil, tt.cred); err != nil {
				t.Fatal(err)
			}
			var got []seen
			for _, s := range up.requests()[before:] {
				if s.HTTPMethod == http.MethodPost {
					got = append(got, seen{Auth: s.Auth, APIKey: s.APIKey, Query: s.Query, Team: s.Team})
				}
			}
			// initialize, notifications/initialized and tools/call all
			// carry the material.
			want := []seen{tt.want, tt.want, tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSessionsPerCredential(t *testing.T) {
	up := newFakeUpstream(t)
	up.token = "shared-secure-token"
	c := newClient(t, nil)
	conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
	credA, credB := bearer("cred_A", "token-A-123456"), bearer("cred_B", "token-B-123456")
	for _, cred := range []*patchbay.CredentialMaterial{credA, credB, credA, credB, credA} {
		res, err := c.CallTool(context.Background(), conn, action("whoami"), nil, cred)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Value) != `"auth=[REDACTED]"` {
			t.Errorf("value = %s", res.Value)
		}
	}
	if n := up.count("initialize"); n != 2 {
		t.Errorf("initialize requests = %d, want 2 (one session per credential)", n)
	}
	authBySession := map[string]map[string]bool{}
	for _, s := range up.requests() {
		if s.Session == "" {
			continue
		}
		if authBySession[s.Session] == nil {
			authBySession[s.Session] = map[string]bool{}
		}
		authBySession[s.Session][s.Auth] = true
	}
	if len(authBySession) != 2 {
		t.Errorf("sessions = %d, want 2", len(authBySession))
	}
	for id, auths := range authBySession {
		if len(auths) != 1 {
			t.Errorf("session %s was used with %d credentials", id, len(auths))
		}
	}

	// The same credential ID on another connector version gets its own session.
	conn2 := *conn
	conn2.Version = 2
	if _, err := c.CallTool(context.Background(), &conn2, action("whoami"), nil, credA); err != nil {
		t.Fatal(err)
	}
	if n := up.count("initialize"); n != 3 {
		t.Errorf("initialize requests = %d, want 3 after a connector change", n)
	}
}

func TestSessionReestablished(t *testing.T) {
	up := newFakeUpstream(t)
	c := newClient(t, nil)
	conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
	cred := bearer("cred_A", "token-A-123456")
	if _, err := c.CallTool(context.Background(), conn, action("json_text"), nil, cred); err != nil {
		t.Fatal(err)
	}
	up.forgetSessions()
	res, err := c.CallTool(context.Background(), conn, action("json_text"), nil, cred)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || string(res.Value) != `{"b":[2,3],"a":1}` {
		t.Errorf("attempts %d, value %s; want 2, the result", res.Attempts, res.Value)
	}
	var calls []int
	for _, s := range up.requests() {
		if s.RPC == "tools/call" {
			calls = append(calls, s.Status)
		}
	}
	if diff := cmp.Diff([]int{200, 404, 200}, calls); diff != "" {
		t.Errorf("tools/call statuses (-want +got):\n%s", diff)
	}
	if n := up.count("initialize"); n != 2 {
		t.Errorf("initialize requests = %d, want 2", n)
	}
	// The new session is cached in turn.
	if _, err := c.CallTool(context.Background(), conn, action("json_text"), nil, cred); err != nil {
		t.Fatal(err)
	}
	if n := up.count("initialize"); n != 2 {
		t.Errorf("initialize requests = %d, want still 2", n)
	}
}

func TestSessionCacheBounds(t *testing.T) {
	type step struct {
		cred    string
		advance time.Duration
	}
	tests := []struct {
		name        string
		opts        Options
		steps       []step
		initialize  int
		deletes     int // after Close
		deleteAfter bool
	}{
		{name: "Reused", steps: []step{{cred: "A"}, {cred: "A"}, {cred: "A"}}, initialize: 1, deletes: 1},
		{name: "LeastRecentlyUsedEvicted", opts: Options{MaxSessions: 1},
			steps: []step{{cred: "A"}, {cred: "B"}, {cred: "A"}}, initialize: 3, deletes: 3},
		{name: "IdleRetired", steps: []step{{cred: "A"}, {cred: "A", advance: 6 * time.Minute}}, initialize: 2, deletes: 2},
		{name: "NoReuse", opts: Options{MaxSessions: -1}, steps: []step{{cred: "A"}, {cred: "A"}}, initialize: 2, deletes: 2},
		{name: "NoCredentialNoReuse", steps: []step{{}, {}}, initialize: 2, deletes: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newFakeUpstream(t)
			var now atomic.Int64
			now.Store(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).UnixNano())
			opts := tt.opts
			opts.Now = func() time.Time { return time.Unix(0, now.Load()) }
			c := newGuardedClient(loopbackGuard(t), &opts)
			conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
			for _, st := range tt.steps {
				now.Add(int64(st.advance))
				var cred *patchbay.CredentialMaterial
				if st.cred != "" {
					cred = bearer("cred_"+st.cred, "token-"+st.cred)
				}
				if _, err := c.CallTool(context.Background(), conn, action("multi"), nil, cred); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			got := [2]int{up.count("initialize"), 0}
			for _, s := range up.requests() {
				if s.HTTPMethod == http.MethodDelete {
					got[1]++
				}
			}
			if want := [2]int{tt.initialize, tt.deletes}; got != want {
				t.Errorf("initialize, DELETE = %v, want %v", got, want)
			}
			if _, err := c.CallTool(context.Background(), conn, action("multi"), nil, nil); !errors.Is(err, errClosed) {
				t.Errorf("call after Close: %v, want errClosed", err)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	up := newFakeUpstream(t)
	c := newClient(t, &Options{MaxSessions: 2})
	conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			cred := bearer(fmt.Sprintf("cred_%d", i%4), fmt.Sprintf("token-%d-abcdef", i%4))
			res, err := c.CallTool(context.Background(), conn, action("whoami"), nil, cred)
			if err == nil && string(res.Value) != `"auth=[REDACTED]"` {
				err = fmt.Errorf("value %s", res.Value)
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	auth := map[string]string{}
	for _, s := range up.requests() {
		if s.Session == "" || s.Auth == "" {
			continue
		}
		if a, ok := auth[s.Session]; ok && a != s.Auth {
			t.Errorf("session %s used with two credentials", s.Session)
		}
		auth[s.Session] = s.Auth
	}
}

func BenchmarkCallTool(b *testing.B) {
	up := newFakeUpstream(b)
	c := newClient(b, nil)
	conn := mcpConnector(up.url("/mcp"), patchbay.AuthScheme{Type: patchbay.AuthBearer})
	cred := bearer("cred_bench", "token-bench-abcdef")
	args := json.RawMessage(`{"q":"x"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CallTool(context.Background(), conn, action("json_text"), args, cred); err != nil {
			b.Fatal(err)
		}
	}
}
