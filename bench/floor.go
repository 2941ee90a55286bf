package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/patchbay-mcp/patchbay/ssrf"
)

// floorEnv carries the floor forwarder's configuration to the child process
// (the bench binary, or the test binary in bench_test.go, run again).
const floorEnv = "PATCHBAY_BENCH_FLOOR"

// floorConfig is what the floor child forwards to.
type floorConfig struct {
	REST string `json:"rest"` // base URL of the REST fake
	MCP  string `json:"mcp"`  // MCP fake endpoint
}

// Paths of the floor forwarder.
const (
	floorSmall   = "/rest/small"
	floorLarge   = "/rest/large"
	floorMCP     = "/mcp"
	floorMallocs = "/_floor/mallocs"
)

// runFloorChild is the floor forwarder: the cheapest reasonable Go gateway,
// a httputil.ReverseProxy on Patchbay's own upstream transport (ssrf.Guard's,
// so pool sizes and timeouts cannot drift) behind an http.Server with
// Patchbay's server timeouts, with no auth, policy, credentials or MCP
// framing. It runs in its own process so that its CPU time is measured like
// the gateway's, and exits when its stdin closes (the bench is gone).
func runFloorChild(raw string) int {
	var cfg floorConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 2
	}
	guard, err := ssrf.New(&ssrf.Options{Allow: []string{"127.0.0.1"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 2
	}
	var bufs sync.Pool
	copyBufs := &bufferPool{}
	mux := http.NewServeMux()
	for path, dst := range map[string]string{floorSmall: cfg.REST + "/v1/small", floorLarge: cfg.REST + "/v1/large", floorMCP: cfg.MCP} {
		u, err := url.Parse(dst)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 2
		}
		proxy := &httputil.ReverseProxy{
			Transport:  guard.Transport(),
			BufferPool: copyBufs,
			Rewrite: func(pr *httputil.ProxyRequest) {
				out := *u
				pr.Out.URL = &out
				pr.Out.Host = ""
			},
		}
		mux.Handle("POST "+path, buffered(proxy, &bufs))
	}
	mux.HandleFunc("GET "+floorMallocs, func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_, _ = fmt.Fprintf(w, "%d %d", ms.Mallocs, ms.TotalAlloc)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 90 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("floor listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	return 0
}

// buffered reads the request body before forwarding, as Patchbay does
// before it parses a call. Streaming it instead makes the HTTP/1 server race
// the transport's body writer once the answer starts (golang/go#40747),
// which cuts responses short at low concurrency. Buffers are pooled so the
// floor stays as cheap as a proxy can reasonably be.
func buffered(next http.Handler, pool *sync.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf, _ := pool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			pool.Put(buf)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		r.ContentLength = int64(buf.Len())
		next.ServeHTTP(w, r)
		pool.Put(buf)
	})
}

// bufferPool recycles ReverseProxy's 32 KiB response copy buffers, which
// it would otherwise allocate for every request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// maxBody is Patchbay's default request body limit (§17.4).
const maxBody = 10 << 20

// startFloor runs the floor forwarder as a child of this executable.
func startFloor(f *fakes) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(floorConfig{REST: f.restURL, MCP: f.mcpURL})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floorEnv+"="+string(raw))
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("floor forwarder did not start: %w", err)
	}
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "floor listening on ")
	if !ok {
		c.stop()
		return nil, fmt.Errorf("floor forwarder: unexpected output %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	c.URL = u
	return c, nil
}

// floorMallocsAt reads the floor process's allocation counters.
func floorMallocsAt(client *http.Client, base string) (memCount, error) {
	resp, err := client.Get(base + floorMallocs)
	if err != nil {
		return memCount{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return memCount{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return memCount{}, errors.New("floor mallocs: " + resp.Status)
	}
	var m memCount
	if _, err := fmt.Sscanf(string(b), "%d %d", &m.objects, &m.bytes); err != nil {
		return memCount{}, fmt.Errorf("floor mallocs: %w", err)
	}
	return m, nil
}
