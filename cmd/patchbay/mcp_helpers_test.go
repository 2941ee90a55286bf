package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Helpers shared by the mcp_*_test.go acceptance tests of the MCP face.
// They drive the program over loopback HTTP only; a platform fake stands in
// for the SaaS API behind a custom connector.

// mcpAccept is the Accept header every valid MCP request carries.
const mcpAccept = "application/json, text/event-stream"

// mcpResp is one answer of the MCP face.
type mcpResp struct {
	Status int
	Header http.Header
	Body   []byte
	// Msg is the JSON-RPC message (SSE data or JSON body) or the error
	// envelope, whichever the body holds.
	Msg map[string]any
	// DecodeErr is a violation of the framing rules (text/plain, not one
	// SSE event, neither JSON-RPC nor an envelope).
	DecodeErr error
	path      string
}

// mcpHTTP is the client of the MCP helpers: no redirects, keep-alive.
var mcpHTTP = &http.Client{
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// mcpPost posts body to rawURL with the headers of a valid MCP request,
// overridden by headers (name/value pairs; "" deletes; "Host" sets the
// host). It fails the test when the answer has Content-Type text/plain
// (§6.2: no /mcp response ever does) or is not a JSON-RPC message, an
// envelope or an empty 202.
func mcpPost(t testing.TB, rawURL, body string, headers ...string) *mcpResp {
	t.Helper()
	r, err := mcpTry(rawURL, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	if r.DecodeErr != nil {
		t.Errorf("POST %s: %v", redactToken(r.path), r.DecodeErr)
	}
	return r
}

// mcpTry is mcpPost for goroutines: it returns the transport error, and a
// framing error in DecodeErr.
func mcpTry(rawURL, body string, headers ...string) (*mcpResp, error) {
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", mcpAccept)
	return mcpSend(req, headers...)
}

// mcpDo sends req after applying headers and decodes the answer.
func mcpDo(t testing.TB, req *http.Request, headers ...string) *mcpResp {
	t.Helper()
	r, err := mcpSend(req, headers...)
	if err != nil {
		t.Fatal(err)
	}
	if r.DecodeErr != nil {
		t.Errorf("%s %s: %v", req.Method, redactToken(r.path), r.DecodeErr)
	}
	return r
}

func mcpSend(req *http.Request, headers ...string) (*mcpResp, error) {
	for i := 0; i+1 < len(headers); i += 2 {
		switch {
		case strings.EqualFold(headers[i], "Host"):
			req.Host = headers[i+1]
		case headers[i+1] == "":
			req.Header.Del(headers[i])
		default:
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := mcpHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := &mcpResp{Status: res.StatusCode, Header: res.Header, path: req.URL.Path}
	out.Body, _ = io.ReadAll(res.Body)
	out.DecodeErr = out.decode()
	return out, nil
}

// decode fills Msg and checks the framing rules of §3.3 and §6.2.
func (r *mcpResp) decode() error {
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(strings.ToLower(ct), "text/plain") {
		return fmt.Errorf("status %d with Content-Type %q: %s", r.Status, ct, r.Body)
	}
	if r.Status == http.StatusAccepted {
		if len(r.Body) != 0 {
			return fmt.Errorf("202 with a body: %s", r.Body)
		}
		return nil
	}
	if r.Status >= 500 && r.Status != http.StatusServiceUnavailable {
		return fmt.Errorf("status %d: %s", r.Status, r.Body)
	}
	payload := r.Body
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		if r.Status != http.StatusOK {
			return fmt.Errorf("SSE with status %d", r.Status)
		}
		data, err := sseData(r.Body)
		if err != nil {
			return err
		}
		payload = data
	case strings.HasPrefix(ct, "application/json"):
	default:
		return fmt.Errorf("status %d with Content-Type %q: %s", r.Status, ct, r.Body)
	}
	if err := json.Unmarshal(payload, &r.Msg); err != nil {
		return fmt.Errorf("status %d: body is not a JSON object: %s", r.Status, r.Body)
	}
	if _, isRPC := r.Msg["jsonrpc"]; !isRPC {
		if _, isEnv := r.Msg["error"].(map[string]any); !isEnv {
			return fmt.Errorf("status %d: neither JSON-RPC nor an envelope: %s", r.Status, r.Body)
		}
	}
	return nil
}

// sseData returns the data of the single "message" event of an SSE body.
func sseData(body []byte) ([]byte, error) {
	const prefix = "event: message\ndata: "
	if !bytes.HasPrefix(body, []byte(prefix)) || !bytes.HasSuffix(body, []byte("\n\n")) {
		return nil, fmt.Errorf("not exactly one SSE message event: %q", body)
	}
	data := body[len(prefix) : len(body)-2]
	if bytes.Contains(data, []byte("\n")) {
		return nil, fmt.Errorf("SSE data spans several lines: %q", body)
	}
	return data, nil
}

// redactToken hides the access token of a token URL path in messages.
func redactToken(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) == 4 && parts[1] == "mcp" {
		parts[3] = "[token]"
	}
	return strings.Join(parts, "/")
}

// rpcErr returns the JSON-RPC error code and message (0 if none).
func (r *mcpResp) rpcErr() (int, string) {
	e, _ := r.Msg["error"].(map[string]any)
	c, _ := e["code"].(float64)
	m, _ := e["message"].(string)
	return int(c), m
}

// envCode returns error.code of an envelope ("" if none).
func (r *mcpResp) envCode() string {
	e, _ := r.Msg["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// envDetail returns error.details[name] of an envelope.
func (r *mcpResp) envDetail(name string) any {
	e, _ := r.Msg["error"].(map[string]any)
	d, _ := e["details"].(map[string]any)
	return d[name]
}

// result returns the JSON-RPC result object (nil on an error).
func (r *mcpResp) result() map[string]any {
	m, _ := r.Msg["result"].(map[string]any)
	return m
}

// wantEnv fails unless r is a gateway-layer envelope with status and code.
func (r *mcpResp) wantEnv(t testing.TB, status int, code string) *mcpResp {
	t.Helper()
	if r.Status != status || r.envCode() != code || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("got %d %s (%s), want %d envelope %s", r.Status, r.Body, r.Header.Get("Content-Type"), status, code)
	}
	return r
}

// wantRPCError fails unless r is an SSE JSON-RPC error with code.
func (r *mcpResp) wantRPCError(t testing.TB, code int) *mcpResp {
	t.Helper()
	if c, _ := r.rpcErr(); r.Status != http.StatusOK || c != code {
		t.Fatalf("got %d %s, want 200 JSON-RPC error %d", r.Status, r.Body, code)
	}
	return r
}

// toolResult is a decoded tools/call result.
type toolResult struct {
	IsError    bool
	Structured map[string]any
	Text       string
	Meta       map[string]any
	Raw        *mcpResp
}

// code returns error.code of a failed tool result.
func (tr *toolResult) code() string {
	e, _ := tr.Structured["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// detail returns error.details[name] of a failed tool result.
func (tr *toolResult) detail(name string) any {
	e, _ := tr.Structured["error"].(map[string]any)
	d, _ := e["details"].(map[string]any)
	return d[name]
}

// wantOK fails unless the tool succeeded.
func (tr *toolResult) wantOK(t testing.TB) *toolResult {
	t.Helper()
	if tr.IsError {
		t.Fatalf("tool failed: %s", tr.Raw.Body)
	}
	return tr
}

// wantErr fails unless the tool failed with code (and reason, if given).
func (tr *toolResult) wantErr(t testing.TB, code string, reason ...string) *toolResult {
	t.Helper()
	if !tr.IsError || tr.code() != code {
		t.Fatalf("got %s, want tool error %s", tr.Raw.Body, code)
	}
	if len(reason) > 0 && tr.detail("reason") != reason[0] {
		t.Fatalf("reason %v, want %s: %s", tr.detail("reason"), reason[0], tr.Raw.Body)
	}
	return tr
}

// rpcID numbers the JSON-RPC requests of the helpers.
type rpcID struct {
	mu sync.Mutex
	n  int
}

func (c *rpcID) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

var rpcIDs rpcID

// rpcBody builds a JSON-RPC request.
func rpcBody(method string, params any) string {
	m := map[string]any{"jsonrpc": "2.0", "id": rpcIDs.next(), "method": method}
	if params != nil {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// callTool calls a tool over raw HTTP and decodes its result. A protocol
// or gateway error fails the test.
func callTool(t testing.TB, rawURL, tool string, args any, headers ...string) *toolResult {
	t.Helper()
	r := mcpPost(t, rawURL, rpcBody("tools/call", map[string]any{"name": tool, "arguments": args}), headers...)
	return r.tool(t)
}

// tool decodes r as a tools/call result.
func (r *mcpResp) tool(t testing.TB) *toolResult {
	t.Helper()
	res := r.result()
	if r.Status != http.StatusOK || res == nil {
		t.Fatalf("tools/call: %d %s", r.Status, r.Body)
	}
	tr := &toolResult{Raw: r}
	tr.IsError, _ = res["isError"].(bool)
	tr.Structured, _ = res["structuredContent"].(map[string]any)
	tr.Meta, _ = res["_meta"].(map[string]any)
	if content, _ := res["content"].([]any); len(content) == 1 {
		item, _ := content[0].(map[string]any)
		tr.Text, _ = item["text"].(string)
	}
	// §7: the text is the compact serialization of structuredContent.
	var fromText map[string]any
	if err := json.Unmarshal([]byte(tr.Text), &fromText); err != nil || !jsonEqual(fromText, tr.Structured) {
		t.Fatalf("text and structuredContent differ: %s", r.Body)
	}
	return tr
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// toolNames lists tools/list over raw HTTP and returns the names in order.
func toolNames(t testing.TB, rawURL string, headers ...string) []string {
	t.Helper()
	r := mcpPost(t, rawURL, rpcBody("tools/list", nil), headers...)
	tools, _ := r.result()["tools"].([]any)
	if r.Status != http.StatusOK || r.result() == nil {
		t.Fatalf("tools/list: %d %s", r.Status, r.Body)
	}
	names := []string{}
	for _, x := range tools {
		m, _ := x.(map[string]any)
		names = append(names, m["name"].(string))
	}
	return names
}

// platform is an httptest fake of a SaaS API behind a custom connector.
// Each known secret names a user; the fake answers with that user's
// canary, so a response proves whose credential reached it.
type platform struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]string // expected auth header value -> canary
	calls []platformCall
}

type platformCall struct {
	Method, Path, Query, Auth, APIKey string
	Body                              string
}

func newPlatform(t testing.TB) *platform {
	p := &platform{users: map[string]string{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// expect registers a credential: requests carrying header value auth (an
// "X-Api-Key" value or a full Authorization value) get canary.
func (p *platform) expect(auth, canary string) {
	p.mu.Lock()
	p.users[auth] = canary
	p.mu.Unlock()
}

func (p *platform) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := platformCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		APIKey: r.Header.Get("X-Api-Key"), Body: string(body)}
	p.mu.Lock()
	p.calls = append(p.calls, c)
	canary, ok := p.users[c.APIKey]
	if !ok {
		canary, ok = p.users[c.Auth]
	}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		// Like many platforms, quote what was presented: the gateway must
		// redact it (§11.3).
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "unknown credential", "presented": c.APIKey + c.Auth})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"owner": canary, "method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery})
}

// callCount returns how many requests reached the fake.
func (p *platform) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// lastCall returns the last request that reached the fake.
func (p *platform) lastCall() platformCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return platformCall{}
	}
	return p.calls[len(p.calls)-1]
}

// connectorDef is a custom connector on the fake with apiKey (header
// X-Api-Key) and bearer authentication and two resources.
func connectorDef(id, name, baseURL string) map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{
		"id": id, "name": name, "description": "Fake platform " + name, "categories": []string{"testing"},
		"baseUrl": baseURL,
		"auth":    []any{map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key"}, map[string]any{"type": "bearer"}},
		"resources": []any{
			map[string]any{"id": "items", "name": "Items", "description": "Things in the fake", "actions": []any{
				map[string]any{"id": "items_list", "name": "List items", "description": "Lists the widgets", "method": "GET", "path": "/items",
					"parameters": map[string]any{"type": "object", "properties": map[string]any{"q": str}}},
				map[string]any{"id": "items_get", "name": "Get item", "description": "Fetches one widget", "method": "GET", "path": "/items/{itemId}",
					"parameters": map[string]any{"type": "object", "properties": map[string]any{"itemId": str}, "required": []string{"itemId"}}},
				map[string]any{"id": "items_delete", "name": "Delete item", "description": "Removes one widget", "method": "DELETE", "path": "/items/{itemId}",
					"parameters": map[string]any{"type": "object", "properties": map[string]any{"itemId": str}, "required": []string{"itemId"}}},
			}},
			map[string]any{"id": "notes", "name": "Notes", "actions": []any{
				map[string]any{"id": "notes_create", "name": "Create note", "description": "Writes a memo", "method": "POST", "path": "/notes",
					"parameters": map[string]any{"type": "object", "properties": map[string]any{"text": str}}},
			}},
		},
	}
}

// createConnector creates a custom connector with the headers' principal
// (default: the bootstrap admin key).
func (ts *testServer) createConnector(def map[string]any, headers ...string) {
	ts.t.Helper()
	ts.call("POST", "/api/connectors", def, headers...).want(ts.t, http.StatusCreated)
}

// storeCredential stores an apiKey (or bearer) credential through the REST
// API for the acting user of headers and returns its ID.
func (ts *testServer) storeCredential(connectorID, typ, secret, name string, headers ...string) string {
	ts.t.Helper()
	field := "apiKey"
	if typ == "bearer" {
		field = "token"
	}
	body := map[string]any{"connectorId": connectorID, "authenticationType": typ, "fields": map[string]string{field: secret}}
	if name != "" {
		body["name"] = name
	}
	return ts.call("POST", "/api/credentials", body, headers...).want(ts.t, http.StatusCreated).str("credentialId")
}

// mcpServer creates a server with the given members and returns its ID and
// token URL.
func (ts *testServer) mcpServer(body map[string]any, headers ...string) (id, tokenURL string) {
	ts.t.Helper()
	r := ts.call("POST", "/api/servers", body, headers...).want(ts.t, http.StatusCreated)
	return r.str("serverId"), r.str("accessUrl")
}

// headerTransport adds fixed headers to every request of a go-sdk client
// and records the responses' status codes and content types.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
	mu      sync.Mutex
	seen    []string // "METHOD status content-type"
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	res, err := h.base.RoundTrip(r)
	if err == nil {
		h.mu.Lock()
		h.seen = append(h.seen, fmt.Sprintf("%s %d %s", r.Method, res.StatusCode, res.Header.Get("Content-Type")))
		h.mu.Unlock()
	}
	return res, err
}

// sdkSession connects the official go-sdk client to endpoint with extra
// headers.
func sdkSession(t testing.TB, endpoint string, headers map[string]string) (*mcp.ClientSession, *headerTransport) {
	t.Helper()
	ht := &headerTransport{base: http.DefaultTransport, headers: headers}
	client := mcp.NewClient(&mcp.Implementation{Name: "patchbay-acceptance", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: ht}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("go-sdk client connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, ht
}

// structured returns a go-sdk tool result's structured content as a map.
func structured(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("structuredContent %s: %v", b, err)
	}
	return m
}
