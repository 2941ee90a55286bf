package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkExecuteAction is one execute_action_alloy call through the real
// handler (front door, authentication by token URL, rate limit, go-sdk,
// argument and parameter validation, credential selection and decryption,
// the SSRF-guarded client, a loopback platform fake, shaping, audit) on a
// server without the read cache: every iteration reaches the platform.
func BenchmarkExecuteAction(b *testing.B) {
	benchmarkExecute(b, false)
}

// BenchmarkExecuteActionCached is the same call answered from the read
// cache (§10.4): no platform call, no decryption.
func BenchmarkExecuteActionCached(b *testing.B) {
	benchmarkExecute(b, true)
}

func benchmarkExecute(b *testing.B, cache bool) {
	w := newWarmGateway(b, &warmOptions{cache: cache})
	body := toolCall("execute_action_alloy", map[string]any{"connectorId": "bench-fake", "actionId": "items_get",
		"parameters": map[string]any{"itemId": "42", "fields": []string{"name", "owner"}}})
	path := w.tokenPath()
	serve := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		w.handler.ServeHTTP(rec, request(path, body))
		return rec
	}
	// Warm: the server, the catalog view, the credential list and the
	// built mcp.Server are cached after the first call.
	if rec := serve(); rec.Code != http.StatusOK || rpcData(b, rec)["result"].(map[string]any)["isError"] == true {
		b.Fatalf("warm-up call: %d %s", rec.Code, rec.Body)
	}
	calls := w.upstreamCalls()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rec := serve(); rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	if got := w.upstreamCalls() - calls; cache && got != 0 || !cache && got < b.N {
		b.Fatalf("%d platform calls for %d iterations (cache %v)", got, b.N, cache)
	}
}
