package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The management face's effect on the MCP face: a regenerated or deleted
// server's token URL is refused from the moment the response is returned.

// mcpPing posts a JSON-RPC ping to an MCP URL and returns the status and body.
func mcpPing(t *testing.T, rawURL string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", rawURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// pingOK reports whether a ping answer is a JSON-RPC result for id 1.
func pingOK(status int, body string) bool {
	return status == http.StatusOK && strings.Contains(body, `"result"`) && strings.Contains(body, `"id":1`)
}

// skipWithoutMCP skips when the MCP face is not wired: /mcp answers 404
// NOT_FOUND for every path.
func skipWithoutMCP(t *testing.T, ts *testServer, tokenURL string) {
	t.Helper()
	s1, b1 := mcpPing(t, tokenURL)
	s2, b2 := mcpPing(t, ts.URL+"/mcp")
	if s1 == http.StatusNotFound && s2 == http.StatusNotFound && strings.Contains(b1, "NOT_FOUND") && strings.Contains(b2, "NOT_FOUND") {
		t.Skip("MCP face not wired yet")
	}
}

func TestAPIRegeneratedTokenRefusedAtOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.createServer("Token Bot")
	id, oldURL := c.str("serverId"), c.str("accessUrl")
	skipWithoutMCP(t, ts, oldURL)
	if s, b := mcpPing(t, oldURL); !pingOK(s, b) {
		t.Fatalf("ping on the fresh token URL: %d %s", s, b)
	}
	for i := range 3 {
		r := ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil).want(t, http.StatusOK)
		newURL := r.str("accessUrl")
		// No waiting: the very next request with the old token is refused.
		s, b := mcpPing(t, oldURL)
		if s != http.StatusUnauthorized || !strings.Contains(b, `"UNAUTHORIZED"`) {
			t.Fatalf("round %d: old token URL answers %d %s", i, s, b)
		}
		if s, b := mcpPing(t, newURL); !pingOK(s, b) {
			t.Fatalf("round %d: new token URL answers %d %s", i, s, b)
		}
		// The token is bound to its server: another server's path refuses it.
		other := ts.createServer("Other " + string(rune('A'+i)))
		tok := newURL[strings.LastIndex(newURL, "/")+1:]
		if s, _ := mcpPing(t, ts.URL+"/mcp/"+other.str("serverId")+"/"+tok); s != http.StatusUnauthorized {
			t.Fatalf("token of one server accepted on another: %d", s)
		}
		oldURL = newURL
	}
	// A deleted server's token URL is refused at once too.
	ts.call("DELETE", "/api/servers/"+id, nil).want(t, http.StatusOK)
	if s, b := mcpPing(t, oldURL); s != http.StatusUnauthorized {
		t.Fatalf("deleted server's token URL answers %d %s", s, b)
	}
}

// The same under load: requests with the old token race the regeneration
// and the refill of the server cache; from the response on it is refused.
func TestAPIRegeneratedTokenRacesCache(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.createServer("Racing Bot")
	id, url := c.str("serverId"), c.str("accessUrl")
	skipWithoutMCP(t, ts, url)
	for round := range 8 {
		stop := make(chan struct{})
		done := make(chan struct{})
		for range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					if res, err := http.DefaultClient.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
			}()
		}
		r := ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil).want(t, http.StatusOK)
		var status int
		for range 3 {
			if status, _ = mcpPing(t, url); status != http.StatusUnauthorized {
				break
			}
		}
		close(stop)
		for range 4 {
			<-done
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("round %d: the replaced token URL answers %d", round, status)
		}
		url = r.str("accessUrl")
	}
}
