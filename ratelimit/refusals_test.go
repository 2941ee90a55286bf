package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/ratelimit"
)

func TestRefusals(t *testing.T) {
	var r ratelimit.Refusals
	t0 := time.Unix(1796378100, 0)
	tests := []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{name: "First", key: "a", at: t0, want: true},
		{name: "Again", key: "a", at: t0.Add(59 * time.Second), want: false},
		{name: "OtherKey", key: "b", at: t0.Add(time.Second), want: true},
		{name: "AfterAMinute", key: "a", at: t0.Add(61 * time.Second), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.First(tt.key, tt.at); got != tt.want {
				t.Fatalf("First(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
	// Many keys later, old ones are forgotten and still report correctly.
	for i := range 5000 {
		r.First(fmt.Sprint("k", i), t0.Add(2*time.Minute))
	}
	if !r.First("a", t0.Add(3*time.Minute)) {
		t.Fatal("a key refused three minutes ago counted as recent")
	}
}
