package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// TestMain fails the run when a client-side session goroutine outlives the
// tests: every test closes its Client, so none may remain.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := clientGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// clientGoroutines waits (up to 10 s, for goroutines that are already
// returning) and then lists the goroutines of client sessions.
func clientGoroutines() string {
	var leaked []string
	for range 200 {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "streamableClientConn") || strings.Contains(g, "upstream.(*Client)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
	return strings.Join(leaked, "\n\n")
}

// seen is one HTTP request that reached the fake upstream.
type seen struct {
	HTTPMethod string
	RPC        string // JSON-RPC method ("" for GET/DELETE or a response)
	Tool       string // params.name of a tools/call
	Session    string
	Auth       string
	Team       string
	APIKey     string
	Query      string
	UserAgent  string
	Status     int
}

// fakeUpstream is a real go-sdk MCP server on httptest, behind a middleware
// that records every request. Routes: /mcp (open), /secure/mcp (needs
// Authorization: Bearer <token>), /redirect/mcp (307 to redirectTo),
// /moved/mcp (307 to /secure/mcp on the same origin).
type fakeUpstream struct {
	srv        *mcp.Server
	ts         *httptest.Server
	token      string
	redirectTo string
	release    chan struct{}

	mu   sync.Mutex
	reqs []seen
}

const bigText = 11 << 20

func rawSchema(s string) json.RawMessage { return json.RawMessage(s) }

func newFakeUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	up := &fakeUpstream{token: "tok-secure-123456", release: make(chan struct{})}
	up.srv = mcp.NewServer(&mcp.Implementation{Name: "fake", Version: "1"}, &mcp.ServerOptions{PageSize: 3})
	obj := rawSchema(`{"type":"object"}`)
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	add := func(tool *mcp.Tool, h mcp.ToolHandler) {
		if tool.InputSchema == nil {
			tool.InputSchema = obj
		}
		up.srv.AddTool(tool, h)
	}
	add(&mcp.Tool{
		Name: "weather.get", Title: "Get weather", Description: "Current weather in a city",
		InputSchema: rawSchema(`{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true},
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		r := text(`{"city":"Paris","tempC":21}`)
		r.StructuredContent = map[string]any{"city": "Paris", "tempC": 21}
		return r, nil
	})
	add(&mcp.Tool{Name: "json_text", Annotations: &mcp.ToolAnnotations{Title: "JSON text", DestructiveHint: patchbay.Bool(false)}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text(` {"b":[2,3],"a":1} `), nil
		})
	add(&mcp.Tool{Name: "plain-text"}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("hello <world>"), nil
	})
	add(&mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		r := text("boom")
		r.IsError = true
		return r, nil
	})
	add(&mcp.Tool{Name: "multi"}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "one"}, &mcp.TextContent{Text: "two"}}}, nil
	})
	add(&mcp.Tool{Name: "echo_args"}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(string(req.Params.Arguments)), nil
	})
	add(&mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("auth=" + req.Extra.Header.Get("Authorization")), nil
	})
	add(&mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// go-sdk's server lets a session's DELETE wait for its calls, so a
		// call the client gave up on must end by itself.
		select {
		case <-ctx.Done():
		case <-up.release:
		case <-time.After(time.Second):
		}
		return text("late"), nil
	})
	add(&mcp.Tool{Name: "big"}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(strings.Repeat("x", bigText)), nil
	})
	add(&mcp.Tool{Name: "Weather-Get", Annotations: &mcp.ToolAnnotations{DestructiveHint: patchbay.Bool(false)}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return text("ok"), nil })

	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up.srv }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	mux.Handle("/secure/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+up.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	mux.Handle("/redirect/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, up.redirectTo, http.StatusTemporaryRedirect)
	}))
	mux.Handle("/moved/mcp", http.RedirectHandler("/secure/mcp", http.StatusTemporaryRedirect))
	up.ts = httptest.NewServer(up.record(mux))
	t.Cleanup(func() {
		close(up.release)
		up.ts.Close()
	})
	return up
}

func (up *fakeUpstream) url(path string) string { return up.ts.URL + path }

// record logs each request; a static header "X-Fail: <status>" makes the
// upstream answer every tools/call with that status and Retry-After: 7.
func (up *fakeUpstream) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		s := seen{
			HTTPMethod: r.Method, RPC: msg.Method, Tool: msg.Params.Name,
			Session: r.Header.Get("Mcp-Session-Id"), Auth: r.Header.Get("Authorization"),
			Team: r.Header.Get("X-Team"), APIKey: r.Header.Get("X-Api-Key"), Query: r.URL.RawQuery,
			UserAgent: r.Header.Get("User-Agent"),
		}
		// Record before answering, so that the client cannot move on
		// before the request shows up here.
		up.mu.Lock()
		i := len(up.reqs)
		up.reqs = append(up.reqs, s)
		up.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, set: func(code int) {
			up.mu.Lock()
			up.reqs[i].Status = code
			up.mu.Unlock()
		}}
		if f := r.Header.Get("X-Fail"); f != "" && msg.Method == "tools/call" {
			var code int
			fmt.Sscan(f, &code)
			w.Header().Set("Retry-After", "7")
			http.Error(sw, "failing on purpose", code)
		} else {
			next.ServeHTTP(sw, r)
		}
		sw.WriteHeader(http.StatusOK) // no-op when the handler wrote one
	})
}

// statusWriter reports the status as soon as it is written, before the
// client can see the response.
type statusWriter struct {
	http.ResponseWriter
	set   func(int)
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.set(code)
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	w.WriteHeader(http.StatusOK)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (up *fakeUpstream) requests() []seen {
	up.mu.Lock()
	defer up.mu.Unlock()
	return append([]seen(nil), up.reqs...)
}

func (up *fakeUpstream) count(rpc string) int {
	n := 0
	for _, s := range up.requests() {
		if s.RPC == rpc {
			n++
		}
	}
	return n
}

// forgetSessions makes the upstream drop every session, as after a restart.
func (up *fakeUpstream) forgetSessions() {
	for ss := range up.srv.Sessions() {
		_ = ss.Close()
	}
}

// loopbackGuard is the real SSRF guard with the test servers' address on
// its allowlist (which also permits http there).
func loopbackGuard(t testing.TB) *ssrf.Guard {
	t.Helper()
	g, err := ssrf.New(&ssrf.Options{Allow: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newGuardedClient returns a Client on g's client, checking URLs with g
// unless opts says otherwise. The caller closes it.
func newGuardedClient(g *ssrf.Guard, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.CheckURL == nil {
		o.CheckURL = g.CheckURL
	}
	return New(g.Client(0), &o)
}

func newClient(t testing.TB, opts *Options) *Client {
	t.Helper()
	c := newGuardedClient(loopbackGuard(t), opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mcpConnector(url string, auth ...patchbay.AuthScheme) *patchbay.Connector {
	return &patchbay.Connector{ID: "fake", Name: "Fake", Type: patchbay.ConnectorMCP, URL: url, Auth: auth, Version: 1}
}

func action(tool string) *patchbay.Action {
	return &patchbay.Action{ID: normalizeID(tool), Tool: tool, Method: "MCP"}
}

func bearer(id, token string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{CredentialID: id, AuthType: patchbay.AuthBearer,
		Secrets: map[string]patchbay.Secret{"token": patchbay.NewSecret(token)}}
}
