package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// §17.5 shutdown and §18.1 flags and variables, with the real binary.

// TestE2EDrain: on SIGTERM /readyz turns 503 at once, new requests are still
// served during --shutdown-drain, a request in flight when the listener
// closes completes, and the exit code is 0.
func TestE2EDrain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := serve(t, []string{"PATCHBAY_MASTER_KEY=" + masterKey(9), "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey},
		"--addr", "127.0.0.1:0", "--data-dir", dir, "--shutdown-drain", "1s")
	c := p.client(e2eAdminKey)
	c.call("GET", "/readyz", nil).want(t, http.StatusOK)

	// A request whose body is only half sent when the signal arrives.
	body := `{"name":"In flight"}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		e2eAdminKey, len(body), body[:5])

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// /readyz turns 503 (polled: the signal is asynchronous), while the drain
	// period still has most of its second left.
	for {
		r := c.call("GET", "/readyz", nil)
		if r.Status == http.StatusServiceUnavailable {
			if r.str("status") != "not_ready" {
				t.Fatalf("readyz while draining: %s", r.Body)
			}
			break
		}
		if time.Since(sent) > 800*time.Millisecond {
			t.Fatalf("readyz still %d after %v", r.Status, time.Since(sent))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// New requests are still served during the drain.
	c.call("GET", "/healthz", nil).want(t, http.StatusOK)
	c.call("GET", "/api/servers", nil).want(t, http.StatusOK)

	// Wait for the listener to close, then finish the in-flight request.
	for {
		nc, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL, "http://"), time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Since(sent) > 10*time.Second {
			t.Fatal("listener still open 10 s after SIGTERM with a 1 s drain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"In flight"`) {
		t.Fatalf("in-flight request: %d %s", res.StatusCode, b)
	}
	conn.Close()
	select {
	case <-p.done:
	case <-time.After(25 * time.Second):
		t.Fatal("no exit after the in-flight request completed")
	}
	if p.code != 0 {
		t.Fatalf("exit code %d", p.code)
	}
	// The server created in flight was committed.
	p = serve(t, []string{"PATCHBAY_MASTER_KEY=" + masterKey(9)}, serveArgs(dir)...)
	if n := p.client(e2eAdminKey).call("GET", "/api/servers", nil).want(t, http.StatusOK).num("count"); n != 1 {
		t.Fatalf("%v servers after restart", n)
	}
	p.stop(syscall.SIGTERM)
}

// The flags of §18.1, each with a valid value different from its default.
var serveFlagSamples = map[string][2]string{
	"addr":                     {"127.0.0.1:9001", "127.0.0.1:9002"},
	"data-dir":                 {"/tmp/a", "/tmp/b"},
	"database-url":             {"sqlite:///tmp/a.db", "sqlite:///tmp/b.db"},
	"redis-url":                {"redis://a:6379", "redis://b:6379"},
	"public-url":               {"https://a.example", "https://b.example"},
	"rate-limit":               {"11", "12"},
	"mgmt-rate-limit":          {"21", "22"},
	"max-body-bytes":           {"2048", "4096"},
	"upstream-timeout":         {"11s", "12s"},
	"max-upstream-concurrency": {"3", "4"},
	"cache-ttl":                {"1m0s", "2m0s"},
	"cache-max-bytes":          {"1000", "2000"},
	"config-cache-ttl":         {"1s", "2s"},
	"connectors-dir":           {"/tmp/c1", "/tmp/c2"},
	"oauth-apps-file":          {"/tmp/o1.yaml", "/tmp/o2.yaml"},
	"ssrf-allow":               {"10.0.0.1", "10.0.0.2"},
	"allowed-origins":          {"https://o1.example", "https://o2.example"},
	"allowed-hosts":            {"h1.example", "h2.example"},
	"trusted-proxies":          {"10.0.0.0/8", "192.168.0.0/16"},
	"metrics-addr":             {"127.0.0.1:9101", "127.0.0.1:9102"},
	"audit-retention":          {"1h0m0s", "2h0m0s"},
	"shutdown-drain":           {"1s", "2s"},
	"log-level":                {"debug", "error"},
}

// TestServeFlagsHaveVariables: serve has exactly the flags of §18.1, each is
// set by its PATCHBAY_<FLAG> variable, and a flag beats its variable.
func TestServeFlagsHaveVariables(t *testing.T) {
	t.Parallel()
	cmd := serveCmd(&env{getenv: func(string) string { return "" }})
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	var want []string
	for n := range serveFlagSamples {
		want = append(want, n)
	}
	sort.Strings(names)
	sort.Strings(want)
	if d := cmp.Diff(want, names); d != "" {
		t.Fatalf("serve flags (-§18.1 +binary):\n%s", d)
	}
	for name, vals := range serveFlagSamples {
		t.Run(name, func(t *testing.T) {
			envName := "PATCHBAY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			getenv := func(k string) string {
				if k == envName {
					return vals[0]
				}
				return ""
			}
			// The variable alone sets the flag.
			cmd := serveCmd(&env{getenv: getenv})
			if err := cmd.Flags().Parse(nil); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup(name).Value.String(); got != vals[0] {
				t.Fatalf("%s=%s gives --%s %q", envName, vals[0], name, got)
			}
			// A flag beats its variable.
			cmd = serveCmd(&env{getenv: getenv})
			if err := cmd.Flags().Parse([]string{"--" + name + "=" + vals[1]}); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup(name).Value.String(); got != vals[1] {
				t.Fatalf("--%s=%s with %s=%s gives %q", name, vals[1], envName, vals[0], got)
			}
		})
	}
}

// TestE2EFlagsAndVariables: the same with the binary, observed over HTTP.
func TestE2EFlagsAndVariables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := []string{"PATCHBAY_MASTER_KEY=" + masterKey(10), "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
	// Variables only: addr, data dir, public URL, management limit, body size.
	env := append(append([]string{}, base...), "PATCHBAY_ADDR=127.0.0.1:0", "PATCHBAY_DATA_DIR="+dir, "PATCHBAY_SHUTDOWN_DRAIN=0s",
		"PATCHBAY_PUBLIC_URL=https://from-env.example", "PATCHBAY_MGMT_RATE_LIMIT=3", "PATCHBAY_MAX_BODY_BYTES=2048", "PATCHBAY_LOG_LEVEL=error")
	p := serve(t, env)
	c := p.client(e2eAdminKey)
	r := c.call("POST", "/api/servers", `{"name":"Env"}`).want(t, http.StatusCreated)
	if !strings.HasPrefix(r.str("url"), "https://from-env.example/mcp/") {
		t.Fatalf("url %q ignores PATCHBAY_PUBLIC_URL", r.str("url"))
	}
	if r.Header.Get("X-RateLimit-Limit") != "3" {
		t.Fatalf("X-RateLimit-Limit %q ignores PATCHBAY_MGMT_RATE_LIMIT", r.Header.Get("X-RateLimit-Limit"))
	}
	c.call("POST", "/api/servers", `{"name":"`+strings.Repeat("x", 3000)+`"}`).want(t, http.StatusRequestEntityTooLarge)
	p.stop(syscall.SIGTERM)

	// Flags beat the same variables.
	p = serve(t, env, "--mgmt-rate-limit", "5", "--public-url", "https://from-flag.example", "--max-body-bytes", "8192",
		"--addr", "127.0.0.1:0")
	c = p.client(e2eAdminKey)
	r = c.call("POST", "/api/servers", `{"name":"Flag","description":"`+strings.Repeat("x", 1900)+`"}`).want(t, http.StatusCreated)
	if !strings.HasPrefix(r.str("url"), "https://from-flag.example/mcp/") || r.Header.Get("X-RateLimit-Limit") != "5" {
		t.Fatalf("flags lost to variables: url %q limit %q", r.str("url"), r.Header.Get("X-RateLimit-Limit"))
	}
	p.stop(syscall.SIGTERM)

	// A bad variable is a configuration error even with the flag absent; the
	// flag given instead of it wins.
	for _, tt := range []struct {
		env  []string
		args []string
		code int
	}{
		{[]string{"PATCHBAY_RATE_LIMIT=0"}, nil, 2},
		{[]string{"PATCHBAY_RATE_LIMIT=lots"}, nil, 2},
		{[]string{"PATCHBAY_ADDR=nonsense"}, nil, 2},
		{[]string{"PATCHBAY_LOG_LEVEL=loud"}, nil, 2},
		{[]string{"PATCHBAY_PUBLIC_URL=ftp://x"}, nil, 2},
		{[]string{"PATCHBAY_DATABASE_URL=mysql://x"}, nil, 2},
		{nil, []string{"--bogus-flag"}, 2},
		{nil, []string{"--rate-limit", "0"}, 2},
		{nil, []string{"--shutdown-drain", "soon"}, 2},
		{nil, []string{"extra-arg"}, 2},
	} {
		name := strings.Join(append(tt.env, tt.args...), " ")
		t.Run(name, func(t *testing.T) {
			e := append(append([]string{}, base...), tt.env...)
			args := append([]string{"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, tt.args...)
			if len(tt.env) > 0 && strings.HasPrefix(tt.env[0], "PATCHBAY_ADDR") {
				args = []string{"--data-dir", t.TempDir()}
			}
			pr, code := tryServe(t, e, args...)
			if pr != nil || code != tt.code {
				t.Fatalf("exit %d, want %d", code, tt.code)
			}
		})
	}
	p = serve(t, append(append([]string{}, base...), "PATCHBAY_RATE_LIMIT=0", "PATCHBAY_ADDR=nonsense"),
		"--rate-limit", "7", "--addr", "127.0.0.1:0", "--data-dir", dir, "--shutdown-drain", "0s")
	p.stop(syscall.SIGTERM)
}
