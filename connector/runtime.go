package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// Defaults of §17.4.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxConcurrency   = 64
	DefaultMaxResponseBytes = 10 << 20
	maxRedirects            = 3
)

// ErrUnauthorized is what an MCPExecutor wraps when the upstream MCP server
// answered HTTP 401, so that the runtime can refresh an OAuth credential once
// and call again (§11.6).
var ErrUnauthorized = errors.New("upstream answered 401")

// CredentialSource yields the credential material of one call. The gateway
// implements it on top of the vault and the OAuth manager.
type CredentialSource interface {
	Material(ctx context.Context) (*patchbay.CredentialMaterial, error)
	// Refresh is called at most once, after an upstream 401, only for
	// oauth2; it returns fresh material or an error to report as is.
	Refresh(ctx context.Context, stale *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error)
}

// MCPExecutor runs the actions of type mcp connectors (package upstream).
// It returns ErrUnauthorized (wrapped) for an upstream 401 and
// *patchbay.Error values for the failures of §11.6.
type MCPExecutor interface {
	CallTool(ctx context.Context, c *patchbay.Connector, a *patchbay.Action, args json.RawMessage, m *patchbay.CredentialMaterial) (*Result, error)
}

// Call is one action execution.
type Call struct {
	AccountID   string // concurrency is limited per account
	Connector   *Compiled
	ActionID    string
	Params      json.RawMessage  // the parameters object; empty means {}
	Credentials CredentialSource // nil for connectors without auth
	// Checked, from Runtime.Check on the same Params, skips validating
	// them again.
	Checked *Checked
}

// Result is a 2xx upstream answer.
type Result struct {
	Status int
	Header http.Header
	// Value is the body as JSON: parsed JSON as is, text as a JSON string,
	// {"contentType","size"} for other types, null for an empty body.
	// Credential secrets are replaced with [REDACTED].
	Value json.RawMessage
	// Attempts counts the requests sent (1 without retries).
	Attempts int
}

// Options configures a Runtime. nil means defaults.
type Options struct {
	Timeout          time.Duration // whole call, slot wait and retries included; 0: 30 s
	MaxConcurrency   int           // per account; 0: 64
	MaxResponseBytes int64         // 0: 10 MiB
	Version          string        // User-Agent: Patchbay/<Version>; "": "dev"
	MCP              MCPExecutor   // runs type mcp connectors; nil: they fail
	Now              func() time.Time

	// CheckURL vets every request URL and redirect target before it is
	// sent, typically (*ssrf.Guard).CheckURL. nil: only https is allowed.
	// Errors wrapping ssrf.ErrBlocked are reported as destination_blocked.
	CheckURL func(u *url.URL) error
}

// Runtime executes actions. It is safe for concurrent use.
type Runtime struct {
	client    *http.Client
	next      func(*http.Request, []*http.Request) error // the given client's CheckRedirect
	timeout   time.Duration
	maxBytes  int64
	userAgent string
	mcp       MCPExecutor
	now       func() time.Time
	checkURL  func(*url.URL) error
	lim       *limiter
}

// New returns a Runtime sending through client, normally the SSRF-guarded
// client of package ssrf. client is copied; its CheckRedirect is kept as a
// second check behind the runtime's own redirect rule (§15). client.Timeout
// is ignored: the runtime's Timeout applies.
func New(client *http.Client, opts *Options) *Runtime {
	if opts == nil {
		opts = &Options{}
	}
	if client == nil {
		client = &http.Client{}
	}
	r := &Runtime{
		timeout:   opts.Timeout,
		maxBytes:  opts.MaxResponseBytes,
		userAgent: "Patchbay/" + opts.Version,
		mcp:       opts.MCP,
		now:       opts.Now,
		checkURL:  opts.CheckURL,
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultMaxResponseBytes
	}
	if opts.Version == "" {
		r.userAgent = "Patchbay/dev"
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.checkURL == nil {
		r.checkURL = httpsOnly
	}
	maxConc := opts.MaxConcurrency
	if maxConc <= 0 {
		maxConc = DefaultMaxConcurrency
	}
	r.lim = newLimiter(maxConc)
	cp := *client
	cp.Timeout = 0
	cp.Jar = nil // no cookies cross calls, users or accounts
	r.next = client.CheckRedirect
	cp.CheckRedirect = r.checkRedirect
	r.client = &cp
	return r
}

func httpsOnly(u *url.URL) error {
	if u.Scheme != "https" {
		return fmt.Errorf("%w: scheme must be https", ssrf.ErrBlocked)
	}
	return nil
}

// redirectState travels in the request context to checkRedirect.
type redirectState struct {
	credentials bool
	status      int // the 3xx of a refused cross-origin redirect
}

type redirectKey struct{}

// errCrossOrigin marks a refused cross-origin redirect.
var errCrossOrigin = errors.New("cross-origin redirect of a request with credentials")

// checkRedirect implements §15: at most 3 redirects; a request with
// credential material never follows a redirect to another origin;
// same-origin redirects keep every header of the first request; Referer is
// never sent; every target passes CheckURL and the given client's check.
func (r *Runtime) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return http.ErrUseLastResponse // the 3xx is reported as a non-2xx answer
	}
	first := via[0]
	st, _ := first.Context().Value(redirectKey{}).(*redirectState)
	if !patchbay.SameOrigin(first.URL, req.URL) {
		if st == nil || st.credentials {
			if st != nil && req.Response != nil {
				st.status = req.Response.StatusCode
			}
			return errCrossOrigin
		}
	} else {
		// Do not rely on net/http's header copying (§15): copy every
		// header of the first request, except body headers when the
		// redirect dropped the body (303, or 301/302 after POST).
		for k, v := range first.Header {
			if req.Body == nil && (k == "Content-Type" || k == "Content-Length") {
				continue
			}
			req.Header[k] = v
		}
	}
	req.Header.Del("Referer")
	if err := r.checkURL(req.URL); err != nil {
		return err
	}
	if r.next != nil {
		return r.next(req, via)
	}
	return nil
}

// Execute runs one action (§7.4 from parameter validation on, §11.3). It
// returns a *Result for a 2xx answer and otherwise a *patchbay.Error of the
// §7.4 table (ACTION_NOT_FOUND, INVALID_REQUEST, UPSTREAM_ERROR,
// UPSTREAM_TIMEOUT), an error of the CredentialSource as is, or a plain
// error (an internal fault, or ctx ending).
func (r *Runtime) Execute(ctx context.Context, call *Call) (*Result, error) {
	ca, err := call.Connector.action(call.ActionID)
	if err != nil {
		return nil, err
	}
	var a *args
	if call.Checked != nil && call.Checked.action == ca {
		a = call.Checked.args
	} else if a, err = ca.validate(call.Params); err != nil {
		return nil, err
	}
	budget, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	var m *patchbay.CredentialMaterial
	switch {
	case len(call.Connector.conn.Auth) == 0:
		// No authentication: credentials, if any were passed, are not used.
	case call.Credentials == nil:
		return nil, patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason("missing")
	default:
		if m, err = call.Credentials.Material(budget); err != nil {
			return nil, r.contextError(ctx, budget, err)
		}
		if m == nil {
			return nil, errors.New("connector: CredentialSource returned no material")
		}
	}

	slot, err := r.lim.acquire(budget, call.AccountID)
	if err != nil {
		return nil, r.contextError(ctx, budget, err)
	}
	defer r.lim.release(call.AccountID, slot)

	if ca.mcp {
		return r.executeMCP(ctx, budget, call, ca, m)
	}
	return r.executeHTTP(ctx, budget, call, ca, a, m)
}

// contextError maps an error seen after ctx or budget ended: our own
// deadline is UPSTREAM_TIMEOUT; the caller's cancellation is returned as is.
func (r *Runtime) contextError(parent, budget context.Context, err error) error {
	if budget.Err() != nil {
		if parent.Err() == nil || errors.Is(parent.Err(), context.DeadlineExceeded) {
			return r.timeoutError()
		}
		return fmt.Errorf("connector: call abandoned: %w", parent.Err())
	}
	return err
}

func (r *Runtime) timeoutError() *patchbay.Error {
	return patchbay.Errorf(patchbay.EUpstreamTimeout, "Upstream timed out").With("timeoutSeconds", int(math.Ceil(r.timeout.Seconds())))
}

func upstreamError(msg, reason string) *patchbay.Error {
	return patchbay.Errorf(patchbay.EUpstream, "%s", msg).Reason(reason)
}

// attempt is what one send produced.
type attempt struct {
	resp     *http.Response
	body     []byte
	err      error
	sent     bool // request bytes were written before the failure
	redirect *redirectState
	wrote    atomic.Bool // set by the transport's writer goroutine
}

func (r *Runtime) executeHTTP(parent, budget context.Context, call *Call, ca *compiledAction, a *args, m *patchbay.CredentialMaterial) (*Result, error) {
	c := call.Connector
	p, err := c.bind(ca, a, m, r.userAgent)
	if err != nil {
		return nil, err
	}
	if err := r.checkURL(p.url); err != nil {
		if errors.Is(err, ssrf.ErrBlocked) {
			return nil, upstreamError("Upstream destination not allowed", "destination_blocked")
		}
		return nil, err
	}
	secrets := secretList(m.SecretValues())
	var dialRetried, idemRetried, refreshed bool
	attempts := 0
	for {
		attempts++
		at := r.send(budget, p)
		if at.err != nil {
			if budget.Err() != nil {
				return nil, r.contextError(parent, budget, at.err)
			}
			if errors.Is(at.err, errCrossOrigin) {
				e := upstreamError("Upstream redirect not followed", "cross_origin_redirect")
				if at.redirect.status != 0 {
					e = e.With("status", at.redirect.status)
				}
				return nil, e
			}
			if errors.Is(at.err, errTooLarge) {
				return nil, upstreamError("Upstream response invalid", "response_too_large")
			}
			if errors.Is(at.err, ssrf.ErrBlocked) {
				return nil, upstreamError("Upstream destination not allowed", "destination_blocked")
			}
			if !at.sent {
				if isDialError(at.err) && !dialRetried {
					dialRetried = true
					continue
				}
				return nil, upstreamError("Upstream unreachable", "unreachable").Wrap(scrub(at.err))
			}
			if ca.idempotent && !idemRetried {
				idemRetried = true
				continue
			}
			return nil, upstreamError("Upstream outcome unknown", "outcome_unknown").Wrap(scrub(at.err))
		}
		status := at.resp.StatusCode
		if (status == 502 || status == 503 || status == 504) && len(at.body) == 0 && ca.idempotent && !idemRetried {
			idemRetried = true
			continue
		}
		if status == http.StatusUnauthorized && m != nil && m.AuthType == patchbay.AuthOAuth2 && !refreshed && call.Credentials != nil {
			refreshed = true
			fresh, err := call.Credentials.Refresh(budget, m)
			if err != nil {
				return nil, r.contextError(parent, budget, err)
			}
			if fresh == nil {
				return nil, errors.New("connector: Refresh returned no material")
			}
			m = fresh
			secrets = secretList(secrets, m.SecretValues())
			if p, err = c.bind(ca, a, m, r.userAgent); err != nil {
				return nil, err
			}
			continue
		}
		ok := status >= 200 && status < 300
		val, derr := r.decode(at.resp.Header.Get("Content-Type"), at.body, secrets, ok)
		if derr != nil {
			return nil, derr
		}
		if !ok {
			e := patchbay.Errorf(patchbay.EUpstream, "Upstream returned HTTP %d", status).
				With("status", status).With("body", val)
			if s, ok := r.retryAfter(at.resp.Header.Get("Retry-After")); ok {
				e = e.With("retryAfterSeconds", s)
			}
			return nil, e
		}
		return &Result{Status: status, Header: at.resp.Header, Value: val, Attempts: attempts}, nil
	}
}

// send performs one request and reads the whole body (capped).
func (r *Runtime) send(ctx context.Context, p *prepared) *attempt {
	st := &redirectState{credentials: p.credentials}
	at := &attempt{redirect: st}
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { at.wrote.Store(true) },
	}
	ctx = httptrace.WithClientTrace(context.WithValue(ctx, redirectKey{}, st), trace)
	req, err := http.NewRequestWithContext(ctx, p.method, "", nil)
	if err != nil {
		at.err = err
		return at
	}
	req.URL = p.url
	req.Host = p.url.Host
	req.Header = p.header
	if p.body != nil {
		body := p.body
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := r.client.Do(req)
	if err != nil {
		at.err = err
		at.sent = at.wrote.Load()
		return at
	}
	defer resp.Body.Close()
	at.resp = resp
	at.sent = true
	body, err := readCapped(resp.Body, resp.ContentLength, r.maxBytes)
	if err != nil {
		at.err = err
		return at
	}
	at.body = body
	return at
}

// scrub drops the request URL from a transport error: it may carry an API
// key in its query, and the error ends up in logs.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request: %w", ue.Op, ue.Err)
	}
	return err
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

var errTooLarge = errors.New("response body over the limit")

// readCapped reads at most max bytes of r; more is errTooLarge.
func readCapped(r io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength > max {
		return nil, errTooLarge
	}
	size := int64(512)
	if contentLength >= 0 {
		size = contentLength + 1 // +1: reading to EOF needs room for one more read
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, max+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > max {
		return nil, errTooLarge
	}
	return buf, nil
}

// decode turns a body into the Result value (§11.3): JSON as is, text/* as
// a JSON string, other types as {"contentType","size"}, empty as null;
// secrets redacted. Invalid JSON in a 2xx answer is invalid_response; in an
// error answer it is passed on as text.
func (r *Runtime) decode(contentType string, body []byte, secrets []string, ok bool) (json.RawMessage, *patchbay.Error) {
	if len(body) == 0 {
		return json.RawMessage("null"), nil
	}
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	isText := strings.HasPrefix(mt, "text/")
	if mt == "" {
		// No type sent: sniff, JSON first.
		switch {
		case json.Valid(body):
			isJSON = true
		case utf8.Valid(body):
			isText = true
		default:
			mt = "application/octet-stream"
		}
	}
	switch {
	case isJSON:
		if json.Valid(body) {
			return redactJSON(body, secrets), nil
		}
		if ok {
			return nil, upstreamError("Upstream response invalid", "invalid_response")
		}
		return appendJSONString(nil, redactText(string(body), secrets)), nil
	case isText:
		return appendJSONString(nil, redactText(string(body), secrets)), nil
	}
	if parsed, _, err := mime.ParseMediaType(contentType); err == nil {
		mt = parsed
	}
	v, _ := json.Marshal(struct {
		ContentType string `json:"contentType"`
		Size        int    `json:"size"`
	}{mt, len(body)})
	return v, nil
}

// retryAfter parses Retry-After as delay seconds or an HTTP date.
func (r *Runtime) retryAfter(h string) (int, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(h); err == nil {
		return max(n, 0), true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	d := t.Sub(r.now())
	if d <= 0 {
		return 0, true
	}
	return int((d + time.Second - 1) / time.Second), true
}

// executeMCP hands an mcp action to the MCP executor, with the same budget,
// slot, one OAuth refresh on 401 and redaction as REST actions.
func (r *Runtime) executeMCP(parent, budget context.Context, call *Call, ca *compiledAction, m *patchbay.CredentialMaterial) (*Result, error) {
	if r.mcp == nil {
		return nil, errors.New("connector: no MCP executor configured")
	}
	params := call.Params
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	secrets := secretList(m.SecretValues())
	refreshed := false
	for {
		res, err := r.mcp.CallTool(budget, call.Connector.conn, ca.def, params, m)
		if err != nil {
			if budget.Err() != nil && !patchbay.IsCode(err, patchbay.EUpstreamTimeout) {
				return nil, r.contextError(parent, budget, err)
			}
			if errors.Is(err, ErrUnauthorized) && m != nil && m.AuthType == patchbay.AuthOAuth2 && !refreshed && call.Credentials != nil {
				refreshed = true
				fresh, rerr := call.Credentials.Refresh(budget, m)
				if rerr != nil {
					return nil, r.contextError(parent, budget, rerr)
				}
				if fresh == nil {
					return nil, errors.New("connector: Refresh returned no material")
				}
				m = fresh
				secrets = secretList(secrets, m.SecretValues())
				continue
			}
			var pe *patchbay.Error
			if errors.Is(err, ErrUnauthorized) && !errors.As(err, &pe) {
				// A bare sentinel: give it the contract's form.
				return nil, patchbay.Errorf(patchbay.EUpstream, "Upstream returned HTTP 401").With("status", http.StatusUnauthorized).Wrap(err)
			}
			return nil, err
		}
		if res == nil {
			return nil, errors.New("connector: MCP executor returned no result")
		}
		if len(res.Value) > 0 {
			res.Value = redactJSON(res.Value, secrets)
		}
		return res, nil
	}
}
