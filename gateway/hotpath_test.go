package gateway_test

import (
	"testing"
	"time"
)

// TestWarmCallNeedsNoDatabase pins the hot-path rule of the performance
// issue: once warm, a tools/call makes no synchronous database round trip.
// The server configuration, the token check, the catalog view, the
// credential list, the data key and the compiled schemas all come from
// memory, so the call succeeds with the database closed (audit events and
// lastUsedAt are written in the background and only log their failure).
func TestWarmCallNeedsNoDatabase(t *testing.T) {
	w := newWarmGateway(t, &warmOptions{configTTL: time.Minute})
	params := map[string]any{"itemId": "42"}
	if res := w.execute("items_get", params); res["isError"] == true {
		t.Fatalf("warm-up call failed: %v", res)
	}
	calls := w.upstreamCalls()
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if res := w.execute("items_get", params); res["isError"] == true {
			t.Fatalf("call %d with the database closed: %v", i, res)
		}
	}
	if got := w.upstreamCalls() - calls; got != 3 {
		t.Fatalf("%d platform calls, want 3 (the read cache is off)", got)
	}
}
