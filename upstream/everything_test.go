package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
)

// everythingScript is the reference server, installed by
// `npm install --prefix tools/npm` (relative to the module root).
const everythingScript = "tools/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"

// startEverything runs @modelcontextprotocol/server-everything over
// streamable HTTP and returns its endpoint. Without node or the package the
// test is skipped, except under PATCHBAY_CI=1, where it fails.
func startEverything(t *testing.T) (endpoint string, log *syncBuffer) {
	t.Helper()
	missing := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatalf("%s (required when PATCHBAY_CI=1)", msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH: install Node.js 20 or later to run this test")
	}
	script, err := filepath.Abs(filepath.Join("..", everythingScript))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		missing("%s is missing: run `npm install --prefix tools/npm` in the module root", everythingScript)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(node, script, "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting server-everything: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// Poll until the port accepts connections, the process dies, or a
	// generous deadline passes.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server-everything exited (%v):\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything did not listen on %s:\n%s", addr, out.String())
		}
	}
	return "http://" + addr + "/mcp", out
}

// syncBuffer collects the server's output, which exec copies from another
// goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServerEverything(t *testing.T) {
	endpoint, log := startEverything(t)
	c := newClient(t, nil)
	ctx := context.Background()

	tools, err := c.ListTools(ctx, endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
	}
	for _, want := range []string{"echo", "get-sum", "get-structured-content"} {
		if !slices.Contains(names, want) {
			t.Fatalf("tool %q not listed; got %v", want, names)
		}
	}
	conn, _, err := ToConnector(MCPDefinition{ID: "everything", Name: "Everything", URL: endpoint}, tools)
	if err != nil {
		t.Fatal(err)
	}
	_, echo := conn.FindAction("echo")
	_, sum := conn.FindAction("get_sum")
	_, weather := conn.FindAction("get_structured_content")
	if echo == nil || sum == nil || weather == nil {
		t.Fatalf("actions echo, get_sum, get_structured_content not all mapped: %+v", conn.Resources)
	}
	if diff := cmp.Diff([]any{"Echo Tool", true, false, true}, []any{echo.Name, *echo.ReadOnly, *echo.Destructive, *echo.Idempotent}); diff != "" {
		t.Errorf("echo action (-want +got):\n%s", diff)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(sum.Parameters, &schema); err != nil || schema.Properties["a"] == nil || schema.Properties["b"] == nil {
		t.Errorf("get-sum parameters = %s (%v)", sum.Parameters, err)
	}

	// The server-everything sessions are stateful: all calls of one
	// credential share one.
	cred := bearer("cred_everything", "token-everything-1")
	tests := []struct {
		name string
		a    *patchbay.Action
		args string
		want any
	}{
		{name: "Echo", a: echo, args: `{"message":"hello from patchbay"}`, want: "Echo: hello from patchbay"},
		{name: "Sum", a: sum, args: `{"a":2,"b":40}`, want: "The sum of 2 and 40 is 42."},
		{name: "StructuredContent", a: weather, args: `{"location":"Chicago"}`,
			want: map[string]any{"temperature": 36.0, "conditions": "Light rain / drizzle", "humidity": 82.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.CallTool(ctx, conn, tt.a, json.RawMessage(tt.args), cred)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := json.Unmarshal(res.Value, &got); err != nil {
				t.Fatalf("value %s: %v", res.Value, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}

	// Invalid arguments come back as an upstream failure, not a success.
	_, err = c.CallTool(ctx, conn, sum, json.RawMessage(`{"a":"two"}`), cred)
	var pe *patchbay.Error
	if !errors.As(err, &pe) || pe.Code != patchbay.EUpstream || (pe.Details["result"] == nil && pe.Details["rpcError"] == nil) {
		t.Errorf("bad arguments: err = %v %v, want EUpstream with a result or rpcError", err, patchbay.ErrorDetails(err))
	}

	// One session for the listing, one for all the calls of the credential.
	if n := strings.Count(log.String(), "Session initialized"); n != 2 {
		t.Errorf("sessions initialized = %d, want 2; server log:\n%s", n, log.String())
	}
}
