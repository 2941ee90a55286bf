package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// margin is how far past its timeout a failing call may return. It only
// catches hangs; it is not a performance assertion.
const margin = 5 * time.Second

// headerKeyDoc sends an API key header; it has a write and a read action.
const headerKeyDoc = `
id: hk
name: Header key
baseUrl: http://a.test
auth: [{type: apiKey, in: header, name: X-Api-Key}]
resources:
  - id: things
    name: Things
    actions:
      - {id: list, name: List, method: GET, path: /things}
      - {id: create, name: Create, method: POST, path: /things, parameters: {type: object, properties: {name: {type: string}}}}
      - {id: upsert, name: Upsert, method: POST, path: /things/upsert, idempotent: true, parameters: {type: object, properties: {name: {type: string}}}}
      - {id: echo, name: Echo, method: GET, path: /echo}
`

const oauthDoc = `
id: oa
name: OAuth
baseUrl: http://a.test
auth:
  - {type: oauth2, authorizationUrl: https://login.test/a, tokenUrl: https://login.test/t}
  - {type: apiKey, in: header, name: X-Api-Key}
resources:
  - id: things
    name: Things
    actions:
      - {id: list, name: List, method: GET, path: /things}
      - {id: create, name: Create, method: POST, path: /things, parameters: {type: object, properties: {name: {type: string}}}}
`

func execute(rt *Runtime, cc *Compiled, action, params string, m *patchbay.CredentialMaterial) (*Result, error) {
	call := &Call{AccountID: "acct", Connector: cc, ActionID: action, Params: json.RawMessage(params)}
	if m != nil {
		call.Credentials = &creds{m: m}
	}
	return rt.Execute(context.Background(), call)
}

// wantUpstreamError checks code, message and the whole details map.
func wantUpstreamError(t *testing.T, err error, code, msg string, details map[string]any) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %q", code, msg)
	}
	if patchbay.ErrorCode(err) != code || patchbay.ErrorMessage(err) != msg {
		t.Fatalf("err = %v, want %s %q", err, code, msg)
	}
	got := patchbay.ErrorDetails(err)
	if b, ok := got["body"].(json.RawMessage); ok {
		got["body"] = string(b)
	}
	if diff := cmp.Diff(details, got); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	checkLeaks(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	rt, _ := newTestRuntime(t, f, &Options{Timeout: 300 * time.Millisecond})
	cc := mustCompile(t, headerKeyDoc)
	for _, action := range []string{"list", "create"} {
		t.Run(action, func(t *testing.T) {
			before := f.count.Load()
			start := time.Now()
			_, err := execute(rt, cc, action, `{}`, apiKeyMaterial("key-123"))
			if d := time.Since(start); d > 300*time.Millisecond+margin {
				t.Errorf("returned after %v", d)
			}
			wantUpstreamError(t, err, patchbay.EUpstreamTimeout, "Upstream timed out", map[string]any{"timeoutSeconds": 1})
			if n := f.count.Load() - before; n != 1 {
				t.Errorf("%d requests, want 1 (a timeout is not retried)", n)
			}
		})
	}
}

func TestConnectionReset(t *testing.T) {
	tests := []struct {
		name     string
		action   string
		failures int // requests answered with a reset before a 200
		requests int64
		err      bool
	}{
		{name: "IdempotentRetriedOnceThenUnknown", action: "list", failures: 9, requests: 2, err: true},
		{name: "IdempotentRecovers", action: "list", failures: 1, requests: 2},
		{name: "IdempotentPOSTRetried", action: "upsert", failures: 1, requests: 2},
		{name: "NonIdempotentNeverRetried", action: "create", failures: 9, requests: 1, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= tt.failures {
					hijackClose(w, true)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"ok":true}`)
			})
			rt, _ := newTestRuntime(t, f, nil)
			cc := mustCompile(t, headerKeyDoc)
			params := `{"name":"x"}`
			if tt.action == "list" {
				params = `{}`
			}
			res, err := execute(rt, cc, tt.action, params, apiKeyMaterial("key-123"))
			if tt.err {
				wantUpstreamError(t, err, patchbay.EUpstream, "Upstream outcome unknown", map[string]any{"reason": "outcome_unknown"})
			} else if err != nil || res.Attempts != 2 || string(res.Value) != `{"ok":true}` {
				t.Fatalf("res %+v, err %v", res, err)
			}
			if n := f.count.Load(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestUpstreamStatus(t *testing.T) {
	type answer struct {
		status int
		ctype  string
		body   string
		header map[string]string
	}
	now := time.Date(2026, 10, 21, 7, 27, 0, 0, time.UTC)
	tests := []struct {
		name     string
		action   string
		answers  []answer // by request number; the last repeats
		requests int64
		value    string // success value
		msg      string // error message
		details  map[string]any
	}{
		{name: "503WithoutBodyRetried", action: "list", answers: []answer{{status: 503}, {status: 200, ctype: "application/json", body: `{"a":1}`}}, requests: 2, value: `{"a":1}`},
		{name: "502WithoutBodyTwice", action: "list", answers: []answer{{status: 502}}, requests: 2,
			msg: "Upstream returned HTTP 502", details: map[string]any{"status": 502, "body": "null"}},
		{name: "504WithoutBodyRetried", action: "list", answers: []answer{{status: 504}, {status: 200}}, requests: 2, value: `null`},
		{name: "503WithBodyNotRetried", action: "list", answers: []answer{{status: 503, ctype: "text/plain", body: "down for maintenance"}}, requests: 1,
			msg: "Upstream returned HTTP 503", details: map[string]any{"status": 503, "body": `"down for maintenance"`}},
		{name: "503OnNonIdempotentNotRetried", action: "create", answers: []answer{{status: 503}}, requests: 1,
			msg: "Upstream returned HTTP 503", details: map[string]any{"status": 503, "body": "null"}},
		{name: "500NotRetried", action: "list", answers: []answer{{status: 500}}, requests: 1,
			msg: "Upstream returned HTTP 500", details: map[string]any{"status": 500, "body": "null"}},
		{name: "422WithJSON", action: "create", answers: []answer{{status: 422, ctype: "application/json", body: `{"error":{"field":"name"}}`}}, requests: 1,
			msg: "Upstream returned HTTP 422", details: map[string]any{"status": 422, "body": `{"error":{"field":"name"}}`}},
		{name: "429RetryAfterSeconds", action: "list", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "120"}}}, requests: 1,
			msg: "Upstream returned HTTP 429", details: map[string]any{"status": 429, "body": "null", "retryAfterSeconds": 120}},
		{name: "429RetryAfterDate", action: "list", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}}}, requests: 1,
			msg: "Upstream returned HTTP 429", details: map[string]any{"status": 429, "body": "null", "retryAfterSeconds": 60}},
		{name: "429RetryAfterGarbage", action: "list", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "soon"}}}, requests: 1,
			msg: "Upstream returned HTTP 429", details: map[string]any{"status": 429, "body": "null"}},
		{name: "InvalidJSON", action: "list", answers: []answer{{status: 200, ctype: "application/json", body: `{"a":`}}, requests: 1,
			msg: "Upstream response invalid", details: map[string]any{"reason": "invalid_response"}},
		{name: "InvalidJSONInErrorIsText", action: "list", answers: []answer{{status: 400, ctype: "application/json", body: `oops`}}, requests: 1,
			msg: "Upstream returned HTTP 400", details: map[string]any{"status": 400, "body": `"oops"`}},
		{name: "ProblemJSON", action: "list", answers: []answer{{status: 200, ctype: "application/problem+json; charset=utf-8", body: `{"b":[1]}`}}, requests: 1, value: `{"b":[1]}`},
		{name: "TextBecomesString", action: "list", answers: []answer{{status: 200, ctype: "text/csv", body: "a,b\n1,2\n"}}, requests: 1, value: `"a,b\n1,2\n"`},
		{name: "BinaryBecomesDescription", action: "list", answers: []answer{{status: 200, ctype: "image/png", body: "\x89PNG"}}, requests: 1, value: `{"contentType":"image/png","size":4}`},
		{name: "UntypedJSONSniffed", action: "list", answers: []answer{{status: 200, body: `[1,2]`}}, requests: 1, value: `[1,2]`},
		{name: "EmptyIsNull", action: "list", answers: []answer{{status: 204}}, requests: 1, value: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				a := tt.answers[min(n, len(tt.answers))-1]
				for k, v := range a.header {
					w.Header().Set(k, v)
				}
				if a.ctype != "" {
					w.Header().Set("Content-Type", a.ctype)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing by net/http
				}
				w.WriteHeader(a.status)
				_, _ = io.WriteString(w, a.body)
			})
			rt, _ := newTestRuntime(t, f, &Options{Now: func() time.Time { return now }})
			cc := mustCompile(t, headerKeyDoc)
			res, err := execute(rt, cc, tt.action, `{}`, apiKeyMaterial("key-123"))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Execute: %v", err)
				}
				if string(res.Value) != tt.value || res.Attempts != int(tt.requests) {
					t.Errorf("value %s attempts %d, want %s %d", res.Value, res.Attempts, tt.value, tt.requests)
				}
			} else {
				wantUpstreamError(t, err, patchbay.EUpstream, tt.msg, tt.details)
			}
			if n := f.count.Load(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestResponseSizeCap(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		chunked bool
		ok      bool
	}{
		{name: "AtTheCap", size: 1024, ok: true},
		{name: "OverWithLength", size: 1025},
		{name: "OverChunked", size: 4096, chunked: true},
		{name: "AtTheCapChunked", size: 1024, chunked: true, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				w.Header().Set("Content-Type", "text/plain")
				body := strings.Repeat("x", tt.size)
				if tt.chunked {
					_, _ = io.WriteString(w, body[:10])
					_ = http.NewResponseController(w).Flush()
					_, _ = io.WriteString(w, body[10:])
					return
				}
				w.Header().Set("Content-Length", fmt.Sprint(tt.size))
				_, _ = io.WriteString(w, body)
			})
			rt, _ := newTestRuntime(t, f, &Options{MaxResponseBytes: 1024})
			cc := mustCompile(t, headerKeyDoc)
			res, err := execute(rt, cc, "list", `{}`, apiKeyMaterial("key-123"))
			if tt.ok {
				if err != nil || len(res.Value) != tt.size+2 {
					t.Fatalf("res %v err %v", res, err)
				}
				return
			}
			wantUpstreamError(t, err, patchbay.EUpstream, "Upstream response invalid", map[string]any{"reason": "response_too_large"})
			if n := f.count.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	type hit struct {
		Path, Key, Referer, Body string
	}
	tests := []struct {
		name     string
		doc      string
		action   string
		params   string
		m        *patchbay.CredentialMaterial
		checkURL func(*url.URL) error
		a        func(w http.ResponseWriter, r *http.Request) // a.test
		aHits    []hit
		bHits    []hit
		msg      string
		details  map[string]any
	}{
		{
			name: "SameOriginKeepsHeaders", doc: headerKeyDoc, action: "list", m: apiKeyMaterial("k1"),
			a: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/things" {
					http.Redirect(w, r, "/moved", http.StatusFound)
				}
			},
			aHits: []hit{{Path: "/things", Key: "k1"}, {Path: "/moved", Key: "k1"}},
		},
		{
			name: "SameOrigin307ResendsBody", doc: headerKeyDoc, action: "create", params: `{"name":"n"}`, m: apiKeyMaterial("k1"),
			a: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/things" {
					http.Redirect(w, r, "http://a.test/v2/things", http.StatusTemporaryRedirect)
				}
			},
			aHits: []hit{{Path: "/things", Key: "k1", Body: `{"name":"n"}`}, {Path: "/v2/things", Key: "k1", Body: `{"name":"n"}`}},
		},
		{
			name: "CrossOriginWithCredentialsRefused", doc: headerKeyDoc, action: "list", m: apiKeyMaterial("k1"),
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://b.test/steal", http.StatusFound)
			},
			aHits: []hit{{Path: "/things", Key: "k1"}},
			msg:   "Upstream redirect not followed", details: map[string]any{"reason": "cross_origin_redirect", "status": 302},
		},
		{
			name: "OtherPortIsOtherOrigin", doc: headerKeyDoc, action: "list", m: apiKeyMaterial("k1"),
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://a.test:8080/x", http.StatusMovedPermanently)
			},
			aHits: []hit{{Path: "/things", Key: "k1"}},
			msg:   "Upstream redirect not followed", details: map[string]any{"reason": "cross_origin_redirect", "status": 301},
		},
		{
			name: "QueryKeyCrossOriginRefused", doc: queryKeyDoc, action: "list", m: &patchbay.CredentialMaterial{AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", "qk")},
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://b.test/x", http.StatusSeeOther)
			},
			aHits: []hit{{Path: "/things"}},
			msg:   "Upstream redirect not followed", details: map[string]any{"reason": "cross_origin_redirect", "status": 303},
		},
		{
			name: "CrossOriginWithoutCredentialsFollowed", doc: noAuthDoc, action: "list",
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://b.test/landing", http.StatusFound)
			},
			aHits: []hit{{Path: "/api/things"}},
			bHits: []hit{{Path: "/landing"}},
		},
		{
			name: "AtMostThreeRedirects", doc: headerKeyDoc, action: "list", m: apiKeyMaterial("k1"),
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
			},
			aHits: []hit{{Path: "/things", Key: "k1"}, {Path: "/thingsx", Key: "k1"}, {Path: "/thingsxx", Key: "k1"}, {Path: "/thingsxxx", Key: "k1"}},
			msg:   "Upstream returned HTTP 302", details: map[string]any{"status": 302, "body": `"<a href=\"/thingsxxxx\">Found</a>.\n\n"`},
		},
		{
			name: "RedirectTargetBlocked", doc: noAuthDoc, action: "list",
			checkURL: func(u *url.URL) error {
				if u.Hostname() == "b.test" {
					return fmt.Errorf("%w: denied name", ssrf.ErrBlocked)
				}
				return nil
			},
			a: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://b.test/internal", http.StatusFound)
			},
			aHits: []hit{{Path: "/api/things"}},
			msg:   "Upstream destination not allowed", details: map[string]any{"reason": "destination_blocked"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var mu sync.Mutex
			var aHits, bHits []hit
			record := func(dst *[]hit, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				*dst = append(*dst, hit{Path: r.URL.Path, Key: r.Header.Get("X-Api-Key"), Referer: r.Header.Get("Referer"), Body: string(body)})
				mu.Unlock()
			}
			a := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				record(&aHits, r)
				if tt.a != nil {
					tt.a(w, r)
				}
			})
			b := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				record(&bHits, r)
				_, _ = io.WriteString(w, `"from b"`)
			})
			d := &dialer{addr: a.addr(), routes: map[string]string{"b.test": b.addr()}}
			checkURL := tt.checkURL
			if checkURL == nil {
				checkURL = allowAll
			}
			rt := New(newClient(t, d), &Options{CheckURL: checkURL})
			cc := mustCompile(t, tt.doc)
			params := tt.params
			if params == "" {
				params = "{}"
			}
			_, err := execute(rt, cc, tt.action, params, tt.m)
			if tt.msg == "" && err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if tt.msg != "" {
				wantUpstreamError(t, err, patchbay.EUpstream, tt.msg, tt.details)
			}
			if diff := cmp.Diff(tt.aHits, aHits); diff != "" {
				t.Errorf("a.test hits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.bHits, bHits); diff != "" {
				t.Errorf("b.test hits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	blocked := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%w: host resolves to a denied address", ssrf.ErrBlocked)}
	tests := []struct {
		name     string
		action   string
		fail     func(n int) error
		dials    int64
		requests int64
		msg      string
		details  map[string]any
	}{
		{name: "RetriedOnceForGET", action: "list", fail: func(n int) error {
			if n == 1 {
				return refused
			}
			return nil
		}, dials: 2, requests: 1},
		{name: "RetriedOnceForPOST", action: "create", fail: func(n int) error {
			if n == 1 {
				return refused
			}
			return nil
		}, dials: 2, requests: 1},
		{name: "TwiceIsUnreachable", action: "create", fail: func(int) error { return refused }, dials: 2,
			msg: "Upstream unreachable", details: map[string]any{"reason": "unreachable"}},
		{name: "BlockedNotRetried", action: "list", fail: func(int) error { return blocked }, dials: 1,
			msg: "Upstream destination not allowed", details: map[string]any{"reason": "destination_blocked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, nil)
			d := &dialer{addr: f.addr(), fail: tt.fail}
			rt := New(newClient(t, d), &Options{CheckURL: allowAll})
			cc := mustCompile(t, headerKeyDoc)
			res, err := execute(rt, cc, tt.action, `{}`, apiKeyMaterial("key-123"))
			if tt.msg == "" {
				if err != nil || res.Attempts != 2 {
					t.Fatalf("res %+v err %v", res, err)
				}
			} else {
				wantUpstreamError(t, err, patchbay.EUpstream, tt.msg, tt.details)
			}
			if d.dials.Load() != tt.dials || f.count.Load() != tt.requests {
				t.Errorf("%d dials, %d requests; want %d, %d", d.dials.Load(), f.count.Load(), tt.dials, tt.requests)
			}
		})
	}
}

func TestOAuthRefreshOn401(t *testing.T) {
	refreshErr := patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason("needs_reauth")
	tests := []struct {
		name      string
		m         *patchbay.CredentialMaterial
		refresh   func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error)
		refreshes int64
		requests  int64
		err       error // nil: success
		msg       string
	}{
		{name: "RefreshAndResend", m: oauthMaterial("stale"), refresh: func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
			return oauthMaterial("fresh"), nil
		}, refreshes: 1, requests: 2},
		{name: "StillUnauthorized", m: oauthMaterial("stale"), refresh: func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
			return oauthMaterial("also-stale"), nil
		}, refreshes: 1, requests: 2, msg: "Upstream returned HTTP 401"},
		{name: "RefreshFailsAsIs", m: oauthMaterial("stale"), refresh: func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
			return nil, refreshErr
		}, refreshes: 1, requests: 1, err: refreshErr},
		{name: "APIKeyNotRefreshed", m: &patchbay.CredentialMaterial{AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", "key-123")},
			refreshes: 0, requests: 1, msg: "Upstream returned HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.Header.Get("Authorization") != "Bearer fresh" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"ok":1}`)
			})
			rt, _ := newTestRuntime(t, f, nil)
			cc := mustCompile(t, oauthDoc)
			src := &creds{m: tt.m, refresh: tt.refresh}
			res, err := rt.Execute(context.Background(), &Call{Connector: cc, ActionID: "create", Credentials: src})
			switch {
			case tt.err != nil:
				if err != tt.err {
					t.Errorf("err = %v, want the refresh error as is", err)
				}
			case tt.msg != "":
				wantUpstreamError(t, err, patchbay.EUpstream, tt.msg, map[string]any{"status": 401, "body": "null"})
			default:
				if err != nil || res.Attempts != 2 || string(res.Value) != `{"ok":1}` {
					t.Fatalf("res %+v err %v", res, err)
				}
			}
			if src.refreshes.Load() != tt.refreshes || f.count.Load() != tt.requests {
				t.Errorf("%d refreshes, %d requests; want %d, %d", src.refreshes.Load(), f.count.Load(), tt.refreshes, tt.requests)
			}
		})
	}
}

// TestSecretsNeverLeak plants canary secrets, has the upstream echo them in
// every way it can, and checks that no result, error message, error string
// or detail carries one.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		key   = "CANARY-KEY-5d41402abc4b2a76"
		token = "CANARY-TOKEN-7c6a180b3689"
		fresh = "CANARY-FRESH-e4da3b7fbbce"
	)
	echo := func(w http.ResponseWriter, r *http.Request, status int) {
		secret := r.Header.Get("X-Api-Key") + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + r.URL.Query().Get("api_key")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", secret)
		w.WriteHeader(status)
		escaped := `\u0043` + secret[1:] // the same secret behind a JSON escape
		fmt.Fprintf(w, `{"plain":%q,"escaped":"%s","nested":[{"note":"key=%s;"}],%q:1}`, secret, escaped, secret, secret)
	}
	tests := []struct {
		name    string
		doc     string
		action  string
		m       *patchbay.CredentialMaterial
		refresh *patchbay.CredentialMaterial
		handle  func(w http.ResponseWriter, r *http.Request, n int)
	}{
		{name: "SuccessBody", doc: headerKeyDoc, action: "list", m: apiKeyMaterial(key),
			handle: func(w http.ResponseWriter, r *http.Request, _ int) { echo(w, r, 200) }},
		{name: "ErrorBody", doc: headerKeyDoc, action: "list", m: apiKeyMaterial(key),
			handle: func(w http.ResponseWriter, r *http.Request, _ int) { echo(w, r, 422) }},
		{name: "TextErrorBody", doc: headerKeyDoc, action: "list", m: apiKeyMaterial(key),
			handle: func(w http.ResponseWriter, r *http.Request, _ int) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(400)
				_, _ = io.WriteString(w, "bad key "+r.Header.Get("X-Api-Key"))
			}},
		{name: "QueryKeyOutcomeUnknown", doc: queryKeyDoc, action: "create", m: &patchbay.CredentialMaterial{AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", key)},
			handle: func(w http.ResponseWriter, r *http.Request, _ int) { hijackClose(w, true) }},
		{name: "QueryKeyRedirectRefused", doc: queryKeyDoc, action: "list", m: &patchbay.CredentialMaterial{AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", key)},
			handle: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Redirect(w, r, "http://b.test/?k="+r.URL.Query().Get("api_key"), http.StatusFound)
			}},
		{name: "RefreshedTokenEchoed", doc: oauthDoc, action: "list", m: oauthMaterial(token), refresh: oauthMaterial(fresh),
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					echo(w, r, 401)
					return
				}
				echo(w, r, 200)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			f := newFake(t, tt.handle)
			rt, _ := newTestRuntime(t, f, nil)
			cc := mustCompile(t, tt.doc)
			src := &creds{m: tt.m}
			if tt.refresh != nil {
				src.refresh = func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) { return tt.refresh, nil }
			}
			res, err := rt.Execute(context.Background(), &Call{Connector: cc, ActionID: tt.action, Params: json.RawMessage(`{}`), Credentials: src})
			var seen []string
			if res != nil {
				if !json.Valid(res.Value) {
					t.Errorf("redacted value is not JSON: %s", res.Value)
				}
				if !strings.Contains(string(res.Value), redacted) {
					t.Errorf("value %s shows no redaction", res.Value)
				}
				seen = append(seen, string(res.Value))
			}
			if err != nil {
				d, _ := json.Marshal(patchbay.ErrorDetails(err))
				seen = append(seen, err.Error(), patchbay.ErrorMessage(err), string(d), fmt.Sprintf("%+v %#v", err, err))
			}
			for _, s := range seen {
				if strings.Contains(s, "CANARY") {
					t.Errorf("a secret leaked: %s", s)
				}
			}
			if len(seen) == 0 {
				t.Fatal("nothing to check")
			}
		})
	}
}

func TestRedactJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "Nothing", in: `{"a":"b"}`, want: `{"a":"b"}`},
		{name: "Value", in: `{"a":"xSECRETy"}`, want: `{"a":"x[REDACTED]y"}`},
		{name: "Key", in: `{"SECRET":1}`, want: `{"[REDACTED]":1}`},
		{name: "Escaped", in: `{"a":"\u0053ECRET","b":"SEC\/RET"}`, want: `{"a":"[REDACTED]","b":"SEC\/RET"}`},
		{name: "OtherEscapesKept", in: `{"a":"line\nSECRET\t\"q\""}`, want: `{"a":"line\n[REDACTED]\t\"q\""}`},
		{name: "Number", in: `[12345,6]`, want: `["[REDACTED]",6]`},
		{name: "Longest first", in: `"SECRET-LONG"`, want: `"[REDACTED]"`},
	}
	sec := secretList([]string{"SECRET", "12345", "SECRET-LONG", ""})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(redactJSON([]byte(tt.in), sec))
			if got != tt.want {
				t.Errorf("redactJSON(%s) = %s, want %s", tt.in, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("invalid JSON %s", got)
			}
		})
	}
}

func FuzzRedactJSON(f *testing.F) {
	f.Add(`{"a":"xSECRETy","SECRET":[1,"\u0053ECRET"]}`, "SECRET")
	f.Add(`[1234,"12\u00334"]`, "1234")
	f.Add(`"\\\"SECRET\\"`, `"SECRET\`)
	f.Fuzz(func(t *testing.T, doc, secret string) {
		if !json.Valid([]byte(doc)) || secret == "" {
			return
		}
		out := redactJSON([]byte(doc), []string{secret})
		if !json.Valid(out) {
			t.Fatalf("redactJSON(%q, %q) = %q: invalid JSON", doc, secret, out)
		}
		var v any
		_ = json.Unmarshal(out, &v)
		if strings.Contains(fmt.Sprint(v), secret) && !strings.Contains(redacted, secret) && !strings.Contains(fmt.Sprint(v), redacted) {
			t.Fatalf("secret %q survives in %q", secret, out)
		}
	})
}

func TestConcurrencyPerAccount(t *testing.T) {
	checkLeaks(t)
	arrived := make(chan string, 10)
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		arrived <- r.Header.Get("X-Api-Key")
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	rt, _ := newTestRuntime(t, f, &Options{MaxConcurrency: 2})
	cc := mustCompile(t, headerKeyDoc)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(account, key string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rt.Execute(context.Background(), &Call{AccountID: account, Connector: cc, ActionID: "list", Credentials: &creds{m: apiKeyMaterial(key)}})
			errs <- err
		}()
	}
	run("a", "a1")
	run("a", "a2")
	run("a", "a3")
	run("b", "b1")
	// Two calls of account a and the call of b reach the upstream; the
	// third call of a waits for a slot.
	got := map[string]int{}
	for range 3 {
		got[(<-arrived)[:1]]++
	}
	if diff := cmp.Diff(map[string]int{"a": 2, "b": 1}, got); diff != "" {
		t.Errorf("arrivals (-want +got):\n%s", diff)
	}
	waitFor(t, func() bool { return rt.lim.waiting("a") == 1 })
	if n := rt.lim.inUse("a"); n != 2 {
		t.Errorf("account a uses %d slots, want 2", n)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Execute: %v", err)
		}
	}
	if n := f.count.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if rt.lim.inUse("a")+rt.lim.inUse("b") != 0 || len(rt.lim.m) != 0 {
		t.Errorf("slots not released: %v", rt.lim.m)
	}
}

// blockingMCP holds its call (and so the account's slot) until released,
// whatever its context says.
type blockingMCP struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingMCP) CallTool(context.Context, *patchbay.Connector, *patchbay.Action, json.RawMessage, *patchbay.CredentialMaterial) (*Result, error) {
	b.started <- struct{}{}
	<-b.release
	return &Result{Status: 200, Value: json.RawMessage(`{}`)}, nil
}

func TestConcurrencyWaitTimesOut(t *testing.T) {
	checkLeaks(t)
	f := newFake(t, nil)
	ex := &blockingMCP{started: make(chan struct{}, 1), release: make(chan struct{})}
	rt, _ := newTestRuntime(t, f, &Options{MaxConcurrency: 1, Timeout: 300 * time.Millisecond, MCP: ex})
	mcp := mustCompile(t, `{"type":"mcp","id":"m","name":"M","url":"https://m.example/mcp","resources":[{"id":"tools","name":"Tools","actions":[{"id":"t","name":"T"}]}]}`)
	rest := mustCompile(t, headerKeyDoc)
	first := make(chan error, 1)
	go func() {
		_, err := rt.Execute(context.Background(), &Call{AccountID: "a", Connector: mcp, ActionID: "t"})
		first <- err
	}()
	<-ex.started // account a's only slot is taken
	start := time.Now()
	_, err := rt.Execute(context.Background(), &Call{AccountID: "a", Connector: rest, ActionID: "list", Credentials: &creds{m: apiKeyMaterial("key-123")}})
	if d := time.Since(start); d > 300*time.Millisecond+margin {
		t.Errorf("returned after %v", d)
	}
	wantUpstreamError(t, err, patchbay.EUpstreamTimeout, "Upstream timed out", map[string]any{"timeoutSeconds": 1})
	// Another account is not held up.
	if _, err := rt.Execute(context.Background(), &Call{AccountID: "b", Connector: rest, ActionID: "list", Credentials: &creds{m: apiKeyMaterial("key-123")}}); err != nil {
		t.Errorf("account b: %v", err)
	}
	close(ex.release)
	if err := <-first; err != nil {
		t.Errorf("first call: %v", err)
	}
	if n := f.count.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (account b's)", n)
	}
}

func TestCancellationEndsCallAndSlot(t *testing.T) {
	checkLeaks(t)
	arrived := make(chan struct{}, 1)
	upstreamDone := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		arrived <- struct{}{}
		<-r.Context().Done()
		close(upstreamDone)
	})
	rt, _ := newTestRuntime(t, f, nil)
	cc := mustCompile(t, headerKeyDoc)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := rt.Execute(ctx, &Call{AccountID: "a", Connector: cc, ActionID: "list", Credentials: &creds{m: apiKeyMaterial("key-123")}})
	if !errors.Is(err, context.Canceled) || patchbay.ErrorCode(err) != patchbay.EInternal {
		t.Errorf("err = %v, want the caller's cancellation", err)
	}
	if rt.lim.inUse("a") != 0 {
		t.Error("slot still held")
	}
	<-upstreamDone // the upstream saw the request end
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// mcpFake is a stand-in for package upstream's executor.
type mcpFake struct {
	mu    sync.Mutex
	calls []string // tool + args + token
	fail  func(n int) error
	value string
}

func (m *mcpFake) CallTool(_ context.Context, _ *patchbay.Connector, a *patchbay.Action, args json.RawMessage, cm *patchbay.CredentialMaterial) (*Result, error) {
	m.mu.Lock()
	m.calls = append(m.calls, a.Tool+" "+string(args)+" "+cm.AccessToken.Reveal())
	n := len(m.calls)
	m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(n); err != nil {
			return nil, err
		}
	}
	return &Result{Status: 200, Value: json.RawMessage(m.value), Attempts: 1}, nil
}

func TestMCPConnector(t *testing.T) {
	doc := `{"type":"mcp","id":"docs","name":"Docs","url":"https://mcp.docs.example/mcp",
	  "auth":[{"type":"oauth2","authorizationUrl":"https://l.example/a","tokenUrl":"https://l.example/t"}],
	  "resources":[{"id":"tools","name":"Tools","actions":[{"id":"search_docs","name":"Search","tool":"search-docs",
	    "parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}]}]}`
	cc := mustCompile(t, doc)
	if info, _ := cc.Action("search_docs"); info.ReadOnly || !info.Destructive || info.Idempotent {
		t.Errorf("mcp flags = %+v, want destructive by default", info)
	}
	unauthorized := fmt.Errorf("upstream: %w", ErrUnauthorized)
	tests := []struct {
		name      string
		params    string
		fail      func(n int) error
		calls     []string
		refreshes int64
		code      string
		value     string
	}{
		{name: "Call", params: `{"q":"go"}`, calls: []string{`search-docs {"q":"go"} t1`}, value: `{"hits":["[REDACTED]"]}`},
		{name: "InvalidParams", params: `{"q":1,"x":2}`, code: patchbay.EInvalid},
		{name: "RefreshOn401", params: `{"q":"go"}`, fail: func(n int) error {
			if n == 1 {
				return unauthorized
			}
			return nil
		}, calls: []string{`search-docs {"q":"go"} t1`, `search-docs {"q":"go"} t2`}, refreshes: 1, value: `{"hits":["[REDACTED]"]}`},
		{name: "401Twice", params: `{"q":"go"}`, fail: func(int) error { return unauthorized },
			calls: []string{`search-docs {"q":"go"} t1`, `search-docs {"q":"go"} t2`}, refreshes: 1, code: patchbay.EUpstream},
		{name: "401AsUpstreamError", params: `{"q":"go"}`, fail: func(int) error {
			return patchbay.Errorf(patchbay.EUpstream, "Upstream returned HTTP 401").With("status", 401).Wrap(ErrUnauthorized)
		}, calls: []string{`search-docs {"q":"go"} t1`, `search-docs {"q":"go"} t2`}, refreshes: 1, code: patchbay.EUpstream},
		{name: "ErrorPassedOn", params: `{"q":"go"}`, fail: func(int) error { return patchbay.Errorf(patchbay.EUpstream, "Upstream tool failed") },
			calls: []string{`search-docs {"q":"go"} t1`}, code: patchbay.EUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &mcpFake{fail: tt.fail, value: `{"hits":["t1"]}`}
			rt := New(nil, &Options{MCP: ex})
			src := &creds{m: &patchbay.CredentialMaterial{AuthType: patchbay.AuthOAuth2, AccessToken: patchbay.NewSecret("t1")},
				refresh: func(*patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
					return &patchbay.CredentialMaterial{AuthType: patchbay.AuthOAuth2, AccessToken: patchbay.NewSecret("t2")}, nil
				}}
			res, err := rt.Execute(context.Background(), &Call{AccountID: "a", Connector: cc, ActionID: "search_docs", Params: json.RawMessage(tt.params), Credentials: src})
			if tt.code != "" {
				if patchbay.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
			} else if err != nil || string(res.Value) != tt.value {
				t.Fatalf("res %+v err %v", res, err)
			}
			if diff := cmp.Diff(tt.calls, ex.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if src.refreshes.Load() != tt.refreshes {
				t.Errorf("%d refreshes, want %d", src.refreshes.Load(), tt.refreshes)
			}
		})
	}
}
