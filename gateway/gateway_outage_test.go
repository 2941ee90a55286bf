package gateway_test

import (
	"net/http"
	"testing"
	"time"
)

// Through a database outage the warm gateway keeps serving what it holds
// (server configuration, API key, catalog view, credential list) for up to
// five minutes after its last successful read, then answers 503
// UNAVAILABLE (§17.5). The cluster e2e test shows the same with a real
// PostgreSQL; this one runs by the clock.
func TestWarmGatewayServesThroughAStoreOutage(t *testing.T) {
	clk := &clock{t: time.Now()}
	w := newWarmGateway(t, &warmOptions{now: clk.Now, configTTL: 5 * time.Second})
	byKey := func() int {
		return w.post("/mcp/"+w.serverID, pingBody, "Authorization", "Bearer "+w.adminKey).Code
	}
	executes := func(when string) {
		t.Helper()
		res := w.execute("items_get", map[string]any{"itemId": "42"})
		if sc, _ := res["structuredContent"].(map[string]any); res["isError"] == true || sc["id"] != "/items/42" {
			t.Fatalf("%s: %v", when, res)
		}
		if code := byKey(); code != http.StatusOK {
			t.Fatalf("%s: the API-key route answered %d", when, code)
		}
	}
	executes("warm")
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4*time.Minute + 50*time.Second)
	executes("past every TTL, the database gone")

	clk.Advance(20 * time.Second)
	for _, tt := range []struct {
		name string
		code func() int
	}{
		{"token URL", func() int { return w.post(w.tokenPath(), pingBody).Code }},
		{"API key", byKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code := tt.code(); code != http.StatusServiceUnavailable {
				t.Fatalf("five minutes after the last read: %d, want 503", code)
			}
		})
	}
}
