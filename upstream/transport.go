package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// maxResponseBytes bounds one upstream response body (§11.3).
const maxResponseBytes = 10 << 20

var (
	errNoExchange   = errors.New("upstream: request outside a call")
	errCrossOrigin  = errors.New("upstream: cross-origin redirect not followed")
	errTooLarge     = errors.New("upstream: response larger than 10 MiB")
	errTooManyHops  = errors.New("upstream: stopped after 3 redirects")
	errBadEndpoint  = errors.New("upstream: invalid endpoint URL")
	errUnknownCreds = errors.New("upstream: credential does not match the connector's auth schemes")
)

// field is one header or query parameter to add to every request of a call.
type field struct{ name, value string }

type exchangeKey struct{}

// exchange is the state of one call (a tools/call or a listing) that travels
// in the request context: what the transport adds to each request, and what
// it saw. go-sdk issues the HTTP requests itself; this is how the call learns
// statuses that the SDK's errors do not carry.
type exchange struct {
	origin string // scheme://host[:port] of the endpoint; material is only sent there
	ua     string

	mu         sync.Mutex
	header     []field // nil once released
	query      []field
	status     int // status of the latest response
	respHeader http.Header
	err        error // latest transport error
	redirect   int   // 3xx status of a refused cross-origin redirect
	tooLarge   bool
	captures   []*capture // bodies kept for ListTools (nil: not capturing)
	capturing  bool
}

func newExchange(endpoint, ua string, header, query []field) (*exchange, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errBadEndpoint
	}
	return &exchange{origin: origin(u), ua: ua, header: header, query: query}, nil
}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// release drops the plaintext material. Requests that the SDK sends later
// with this context (a cancellation notice, the session's DELETE) go out
// without it.
func (x *exchange) release() {
	x.mu.Lock()
	x.header, x.query = nil, nil
	x.mu.Unlock()
}

func (x *exchange) hasMaterial() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.header) > 0 || len(x.query) > 0
}

// reset forgets what the transport saw, before a retry.
func (x *exchange) reset() {
	x.mu.Lock()
	x.status, x.respHeader, x.err, x.redirect, x.tooLarge = 0, nil, nil, 0, false
	x.mu.Unlock()
}

type observed struct {
	status   int
	header   http.Header
	err      error
	redirect int
	tooLarge bool
}

func (x *exchange) observed() observed {
	x.mu.Lock()
	defer x.mu.Unlock()
	return observed{status: x.status, header: x.respHeader, err: x.err, redirect: x.redirect, tooLarge: x.tooLarge}
}

// transport adds the call's material to requests for the endpoint's origin
// and records what came back. It never stores material itself.
type transport struct {
	base  http.RoundTripper
	check func(*url.URL) error
}

func httpsOnly(u *url.URL) error {
	if !strings.EqualFold(u.Scheme, "https") {
		return fmt.Errorf("%w: scheme must be https", ssrf.ErrBlocked)
	}
	return nil
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := exchangeFrom(req.Context())
	if x == nil {
		return nil, errNoExchange
	}
	if err := t.check(req.URL); err != nil {
		x.mu.Lock()
		x.err = err
		x.mu.Unlock()
		return nil, err
	}
	out := x.prepare(req)
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		x.mu.Lock()
		x.err = err
		x.mu.Unlock()
		return nil, err
	}
	x.mu.Lock()
	x.status, x.respHeader = resp.StatusCode, resp.Header
	var c *capture
	if x.capturing && resp.StatusCode/100 == 2 {
		c = &capture{}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		c.sse = mt == "text/event-stream"
		x.captures = append(x.captures, c)
	}
	x.mu.Unlock()
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBytes, x: x, c: c}
	return resp, nil
}

// prepare returns a copy of req with the call's material, as a RoundTripper
// must not modify its argument.
func (x *exchange) prepare(req *http.Request) *http.Request {
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header, 4)
	}
	out.Header.Set("User-Agent", x.ua)
	out.Header.Del("Referer")
	if origin(req.URL) != x.origin {
		return out
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range x.header {
		out.Header.Set(f.name, f.value)
	}
	if len(x.query) > 0 {
		u := *req.URL
		q := u.Query()
		for _, f := range x.query {
			q.Set(f.name, f.value)
		}
		u.RawQuery = q.Encode()
		out.URL = &u
	}
	return out
}

// limitedBody enforces maxResponseBytes and, for listings, keeps a copy.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	x    *exchange
	c    *capture
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 {
			return 0, err
		}
		b.x.mu.Lock()
		b.x.tooLarge = true
		b.x.mu.Unlock()
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.c != nil && n > 0 {
		b.c.write(p[:n])
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// capture is one response body of a listing.
type capture struct {
	sse bool
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) write(p []byte) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// checkRedirect refuses a cross-origin redirect of a request that carries
// material (§15) before the caller's policy runs: the material is added by
// the transport, so the caller's CheckRedirect cannot see it in the headers.
func checkRedirect(base func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if x := exchangeFrom(req.Context()); x != nil && x.hasMaterial() && origin(req.URL) != origin(via[0].URL) {
			status := 0
			if req.Response != nil {
				status = req.Response.StatusCode
			}
			x.mu.Lock()
			x.redirect = status
			x.mu.Unlock()
			return errCrossOrigin
		}
		if base != nil {
			return base(req, via)
		}
		if len(via) > 3 {
			return errTooManyHops
		}
		return nil
	}
}

// staticFields turns a connector's static headers into fields.
func staticFields(headers map[string]patchbay.Secret) []field {
	out := make([]field, 0, len(headers)+1)
	for name, v := range headers {
		out = append(out, field{name: name, value: v.Reveal()})
	}
	return out
}

// material returns the credential applied as for REST (§11.1): the auth
// header, or the apiKey query parameter. Callers put it after the static
// headers, so that it wins on a clash.
func material(c *patchbay.Connector, m *patchbay.CredentialMaterial) (auth, query []field, err error) {
	if m == nil {
		return nil, nil, nil
	}
	secret := func(name string) string { return m.Secrets[name].Reveal() }
	switch m.AuthType {
	case patchbay.AuthOAuth2:
		return []field{{"Authorization", "Bearer " + m.AccessToken.Reveal()}}, nil, nil
	case patchbay.AuthBearer:
		return []field{{"Authorization", "Bearer " + secret("token")}}, nil, nil
	case patchbay.AuthBasic:
		raw := secret("username") + ":" + secret("password")
		return []field{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}}, nil, nil
	case patchbay.AuthAPIKey:
		s := c.Scheme(patchbay.AuthAPIKey)
		if s == nil || s.Name == "" {
			return nil, nil, errUnknownCreds
		}
		switch s.In {
		case "query":
			return nil, []field{{s.Name, secret("apiKey")}}, nil
		case "header", "":
			return []field{{s.Name, s.Prefix + secret("apiKey")}}, nil, nil
		}
		return nil, nil, errUnknownCreds
	}
	return nil, nil, fmt.Errorf("upstream: credential type %q: %w", m.AuthType, errUnknownCreds)
}
