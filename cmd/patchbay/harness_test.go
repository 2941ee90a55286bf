package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// testMasterKey is the master key of in-process test servers.
var testMasterKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// testAdminKey is the bootstrap admin key of in-process test servers.
const testAdminKey = "pb_TestAdminKey0123456789abcdefghijklmnopqrst"

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is the whole program, wired as serve wires it, on a real
// loopback listener.
type testServer struct {
	t        *testing.T
	URL      string
	AdminKey string
	cfg      Config
	app      *app
	logs     *syncBuffer
	env      map[string]string
}

func (ts *testServer) getenv(k string) string { return ts.env[k] }

// newTestServer starts an in-process Patchbay on a temporary SQLite
// database. mutate may change the configuration before it is validated.
func newTestServer(t *testing.T, mutate ...func(*Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Addr = ln.Addr().String()
	cfg.LogLevel = "debug"
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, URL: "http://" + ln.Addr().String(), AdminKey: testAdminKey, cfg: cfg, logs: &syncBuffer{},
		env: map[string]string{"PATCHBAY_MASTER_KEY": testMasterKey, "PATCHBAY_BOOTSTRAP_API_KEY": testAdminKey}}
	ctx := context.Background()
	db, err := openStore(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := openVault(ctx, &cfg, db, ts.getenv, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := bootstrap(ctx, db, v, ts.getenv, func(string) {}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts.app, err = wire(context.Background(), cfg, log, db, v)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(ts.app.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ts.app.close()
		db.Close()
	})
	return ts
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// code returns error.code of an error envelope.
func (r *resp) code() string {
	e, _ := r.JSON["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// detail returns error.details[name].
func (r *resp) detail(name string) any {
	e, _ := r.JSON["error"].(map[string]any)
	d, _ := e["details"].(map[string]any)
	return d[name]
}

// str returns a top-level string member.
func (r *resp) str(name string) string {
	s, _ := r.JSON[name].(string)
	return s
}

// call sends a request. body may be nil, a string (sent verbatim) or any
// value (sent as JSON). headers are name/value pairs; "Authorization" is
// set to the admin key unless given ("Authorization", "" sends none).
func (ts *testServer) call(method, path string, body any, headers ...string) *resp {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+ts.AdminKey)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &resp{Status: res.StatusCode, Header: res.Header}
	out.Body, _ = io.ReadAll(res.Body)
	_ = json.Unmarshal(out.Body, &out.JSON)
	return out
}

// want fails the test unless r has the status (and, for errors, the code).
func (r *resp) want(t *testing.T, status int, code ...string) *resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if len(code) > 0 && r.code() != code[0] {
		t.Fatalf("code %q, want %q; body %s", r.code(), code[0], r.Body)
	}
	return r
}
