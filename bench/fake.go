package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Body sizes of the platform fake's two responses.
const (
	smallSize = 200
	largeSize = 4096
)

// platformToken is the bearer token the fakes expect; it is sealed into
// Patchbay as the benchmark user's credential for both connectors.
const platformToken = "bench-platform-token-0123456789"

// payload returns a JSON object of exactly size bytes: a few realistic
// members and a padding string that brings it to size.
func payload(size int) []byte {
	head := `{"id":"item_0001","name":"Benchmark item","status":"active","owner":{"id":"u_42","email":"ada@example.com"},"tags":["bench","loopback"],"note":"`
	tail := `"}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	for i := 0; i < pad; i++ {
		b = append(b, 'a'+byte(i%26))
	}
	return append(b, tail...)
}

// fakes is the platform fake (REST) and the upstream MCP server, both on
// loopback listeners inside the bench process.
type fakes struct {
	restURL string // base URL of the REST fake
	mcpURL  string // Streamable HTTP endpoint of the MCP fake
	small   []byte
	large   []byte
	delay   time.Duration
	servers []*http.Server
}

// startFakes starts both fakes. delay is added to every upstream answer.
func startFakes(delay time.Duration) (*fakes, error) {
	f := &fakes{small: payload(smallSize), large: payload(largeSize), delay: delay}

	rest := http.NewServeMux()
	rest.HandleFunc("/v1/small", f.restHandler(f.small))
	rest.HandleFunc("/v1/large", f.restHandler(f.large))
	u, err := f.serve(rest)
	if err != nil {
		return nil, err
	}
	f.restURL = u

	srv := mcp.NewServer(&mcp.Implementation{Name: "bench-upstream", Version: "1.0.0"}, nil)
	for _, t := range []struct {
		name string
		body []byte
	}{{"get_small", f.small}, {"get_large", f.large}} {
		text := string(t.body)
		srv.AddTool(&mcp.Tool{
			Name:        t.name,
			Description: "Returns a fixed JSON document.",
			InputSchema: json.RawMessage(`{"type":"object"}`),
			Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if err := f.wait(ctx); err != nil {
				return nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
		})
	}
	// Stateless, so that direct and floor calls need no handshake; Patchbay's
	// upstream client still initializes once per cached session.
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, DisableLocalhostProtection: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", checkBearer(h, true))
	u, err = f.serve(mux)
	if err != nil {
		f.close()
		return nil, err
	}
	f.mcpURL = u + "/mcp"
	return f, nil
}

func (f *fakes) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	f.servers = append(f.servers, s)
	go func() { _ = s.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func (f *fakes) wait(ctx context.Context) error {
	if f.delay <= 0 {
		return nil
	}
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restHandler answers any method (Patchbay sends GET, the direct and floor
// runs POST a JSON-RPC body of the same size as Patchbay's) with body.
func (f *fakes) restHandler(body []byte) http.HandlerFunc {
	length := fmt.Sprint(len(body))
	return checkBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if err := f.wait(r.Context()); err != nil {
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	}), false).ServeHTTP
}

// checkBearer refuses a request without the platform token, so a run that
// reaches the fake without the credential (or with a wrong one) counts as
// errors. optional lets MCP discovery (Patchbay lists tools with static
// headers only, §11.6) through without a token.
func checkBearer(h http.Handler, optional bool) http.Handler {
	want := "Bearer " + platformToken
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if got != want && !(optional && got == "") {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (f *fakes) close() {
	for _, s := range f.servers {
		_ = s.Close()
	}
}
