package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// checkLeaks fails the test if goroutines started during it are still
// running once its cleanups ran. Call it first, so that its cleanup runs last.
func checkLeaks(t testing.TB) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", n, base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// recorded is one request as the fake upstream saw it.
type recorded struct {
	Method string
	Host   string
	URI    string
	Header http.Header
	Body   string
}

// fake is a loopback stand-in for a SaaS API. Every request is recorded
// and then handled by handle (default: 200 {"ok":true}).
type fake struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	count  atomic.Int64
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func newFake(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	return startFake(t, handle, false)
}

// newTLSFake serves https; the test client skips certificate checks, since
// the dialer sends every host name to it.
func newTLSFake(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	return startFake(t, handle, true)
}

func startFake(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int), tls bool) *fake {
	t.Helper()
	f := &fake{handle: handle}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body))) // handlers may read it again
		n := int(f.count.Add(1))
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
		f.mu.Unlock()
		if f.handle == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		f.handle(w, r, n)
	}))
	if tls {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fake) addr() string { return f.srv.Listener.Addr().String() }

// dialer routes every connection to one loopback address, so that
// definitions can use any host name, and counts dials.
type dialer struct {
	addr   string
	routes map[string]string // optional: host name -> address
	dials  atomic.Int64
	fail   func(n int) error // optional: fail the n-th dial
}

func (d *dialer) DialContext(ctx context.Context, network, hostport string) (net.Conn, error) {
	n := int(d.dials.Add(1))
	if d.fail != nil {
		if err := d.fail(n); err != nil {
			return nil, err
		}
	}
	addr := d.addr
	if host, _, err := net.SplitHostPort(hostport); err == nil && d.routes[host] != "" {
		addr = d.routes[host]
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func newClient(t testing.TB, d *dialer) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback test server
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func allowAll(*url.URL) error { return nil }

func newTestRuntime(t testing.TB, f *fake, opts *Options) (*Runtime, *dialer) {
	t.Helper()
	d := &dialer{addr: f.addr()}
	if opts == nil {
		opts = &Options{}
	}
	if opts.CheckURL == nil {
		opts.CheckURL = allowAll
	}
	if opts.Version == "" {
		opts.Version = "1.2.3"
	}
	return New(newClient(t, d), opts), d
}

func mustCompile(t testing.TB, doc string) *Compiled {
	t.Helper()
	c, err := Parse([]byte(doc), &ValidateOptions{AllowHTTP: func(string) bool { return true }})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cc, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return cc
}

// creds is a CredentialSource over fixed material; refresh, if set, is
// called by Refresh.
type creds struct {
	m         *patchbay.CredentialMaterial
	refresh   func(stale *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error)
	refreshes atomic.Int64
}

func (c *creds) Material(context.Context) (*patchbay.CredentialMaterial, error) { return c.m, nil }

func (c *creds) Refresh(_ context.Context, stale *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
	c.refreshes.Add(1)
	if c.refresh == nil {
		return nil, errors.New("no refresh")
	}
	return c.refresh(stale)
}

func secrets(kv ...string) map[string]patchbay.Secret {
	m := make(map[string]patchbay.Secret, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = patchbay.NewSecret(kv[i+1])
	}
	return m
}

// bindDoc exercises every location and every scheme; the base URL has a
// host and a path placeholder.
const bindDoc = `
id: bindtest
name: Bind test
baseUrl: https://{region}.api.test/v2/{tenant}
auth:
  - type: oauth2
    authorizationUrl: https://login.test/authorize
    tokenUrl: https://login.test/token
    fields: &fields
      - {name: region, secret: false, enum: [us, eu]}
      - {name: tenant, secret: false, pattern: "^[a-z][a-z0-9 ]*$"}
  - {type: apiKey, in: header, name: X-Api-Key, prefix: "Token ", fields: *fields}
  - {type: bearer, fields: *fields}
  - {type: basic, fields: *fields}
resources:
  - id: items
    name: Items
    actions:
      - id: get_item
        name: Get item
        method: GET
        path: /items/{itemId}
        parameters:
          type: object
          properties:
            itemId: {type: string}
            fields: {type: array, items: {type: string}}
            flag: {type: boolean}
            n: {type: number}
            page: {type: integer}
            trace: {type: string, x-in: header, x-name: X-Trace}
          required: [itemId]
      - id: create_item
        name: Create item
        method: POST
        path: /items
        parameters:
          type: object
          properties:
            title: {type: string}
            amount: {type: number}
            meta: {type: object, x-name: metadata}
            key: {type: string, x-in: header, x-name: Idempotency-Key}
      - id: bulk_put
        name: Bulk put
        method: PUT
        path: /items/bulk
        parameters:
          type: object
          properties:
            items: {type: array, items: {type: object}, x-body-root: true}
      - id: form_post
        name: Form post
        method: POST
        path: /forms
        bodyEncoding: form
        parameters:
          type: object
          properties:
            name: {type: string}
            tags: {type: array, items: {type: string}}
            n: {type: integer}
      - id: delete_item
        name: Delete item
        method: DELETE
        path: /items/{itemId}
        parameters:
          type: object
          properties:
            itemId: {type: string}
            hard: {type: boolean}
          required: [itemId]
      - id: head_item
        name: Head item
        method: HEAD
        path: /items
      - id: text_get
        name: Get text
        method: GET
        path: /text
`

// noAuthDoc has no authentication.
const noAuthDoc = `
id: open
name: Open
baseUrl: http://open.test/api
resources:
  - id: things
    name: Things
    actions:
      - {id: list, name: List, method: GET, path: /things}
      - {id: create, name: Create, method: POST, path: /things, parameters: {type: object, properties: {name: {type: string}}}}
`

// queryKeyDoc sends its API key as a query parameter.
const queryKeyDoc = `
id: querykey
name: Query key
baseUrl: http://q.test
auth: [{type: apiKey, in: query, name: api_key}]
resources:
  - id: things
    name: Things
    actions:
      - {id: list, name: List, method: GET, path: /things, parameters: {type: object, properties: {q: {type: string}}}}
      - {id: create, name: Create, method: POST, path: /things, parameters: {type: object, properties: {name: {type: string}}}}
`

func apiKeyMaterial(key string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{
		CredentialID: "cred_00000000000000000001",
		AuthType:     patchbay.AuthAPIKey,
		Config:       map[string]string{"region": "eu", "tenant": "acme"},
		Secrets:      secrets("apiKey", key),
	}
}

func oauthMaterial(token string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{
		CredentialID: "cred_00000000000000000002",
		AuthType:     patchbay.AuthOAuth2,
		Config:       map[string]string{"region": "us", "tenant": "acme"},
		AccessToken:  patchbay.NewSecret(token),
	}
}

func errDetails(t *testing.T, err error) map[string]any {
	t.Helper()
	var e *patchbay.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *patchbay.Error", err, err)
	}
	return e.Details
}

// hijackClose answers by closing the connection without a response; with
// reset set, the close is an RST.
func hijackClose(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
