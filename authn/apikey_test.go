package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHashAPIKey(t *testing.T) {
	key := "pb_6huxaZ4zyBkZKw1Ro4dlRvC60h4ocTr3rk3WqgUS"
	got := HashAPIKey(key)
	want := sha256.Sum256([]byte(key))
	if got != want {
		t.Fatalf("HashAPIKey = %x, want %x", got, want)
	}
	// A fixed vector, so a change of algorithm or input cannot go unnoticed.
	if h := HashAPIKey("pb_"); hex.EncodeToString(h[:]) != "f45e7482d6523f742a960c4e4a96877faf877e57ae27600dc9bc823739eb7352" {
		t.Fatalf("HashAPIKey(pb_) = %x", h)
	}
}

func TestValidAPIKeyFormat(t *testing.T) {
	b62 := func(n int) string { return strings.Repeat("aZ9", n)[:n] }
	tests := []struct {
		name      string
		key       string
		bootstrap bool
		want      bool
	}{
		{name: "ContractExample", key: "pb_6huxaZ4zyBkZKw1Ro4dlRvC60h4ocTr3rk3WqgUS", want: true},
		{name: "Forty", key: "pb_" + b62(40), want: true},
		{name: "ThirtyNine", key: "pb_" + b62(39)},
		{name: "FortyOne", key: "pb_" + b62(41)},
		{name: "WrongPrefix", key: "pk_" + b62(40)},
		{name: "UpperPrefix", key: "PB_" + b62(40)},
		{name: "NotBase62", key: "pb_" + b62(39) + "-"},
		{name: "Empty", key: ""},
		{name: "BootstrapThirtyTwo", key: "pb_" + b62(32), bootstrap: true, want: true},
		{name: "BootstrapLong", key: "pb_" + b62(100), bootstrap: true, want: true},
		{name: "BootstrapForty", key: "pb_" + b62(40), bootstrap: true, want: true},
		{name: "BootstrapThirtyOne", key: "pb_" + b62(31), bootstrap: true},
		{name: "BootstrapNotBase62", key: "pb_" + b62(40) + "_", bootstrap: true},
		{name: "BootstrapNoPrefix", key: b62(40), bootstrap: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidAPIKeyFormat(tt.key, tt.bootstrap); got != tt.want {
				t.Fatalf("ValidAPIKeyFormat(%q, %v) = %v, want %v", tt.key, tt.bootstrap, got, tt.want)
			}
		})
	}
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{name: "Bearer", header: "Bearer pb_x", want: "pb_x", ok: true},
		{name: "Lowercase", header: "bearer pb_x", want: "pb_x", ok: true},
		{name: "Uppercase", header: "BEARER a.b.c", want: "a.b.c", ok: true},
		{name: "TwoSpaces", header: "Bearer  pb_x"},
		{name: "Tab", header: "Bearer\tpb_x"},
		{name: "NoValue", header: "Bearer "},
		{name: "NoSpace", header: "Bearerpb_x"},
		{name: "SchemeOnly", header: "Bearer"},
		{name: "Basic", header: "Basic dXNlcjpwYXNz"},
		{name: "TrailingSpace", header: "Bearer pb_x "},
		{name: "InnerSpace", header: "Bearer pb_x y"},
		{name: "Empty", header: ""},
		{name: "LeadingSpace", header: " Bearer pb_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseBearer(tt.header)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseBearer(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		name string
		v    string
		want bool
	}{
		{name: "ThreeSegments", v: "a.b.c", want: true},
		{name: "EmptySegments", v: "..", want: true},
		{name: "OneDot", v: "a.b"},
		{name: "ThreeDots", v: "a.b.c.d"},
		{name: "APIKey", v: "pb_6huxaZ4zyBkZKw1Ro4dlRvC60h4ocTr3rk3WqgUS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeJWT(tt.v); got != tt.want {
				t.Fatalf("LooksLikeJWT(%q) = %v", tt.v, got)
			}
		})
	}
}

func BenchmarkHashAPIKey(b *testing.B) {
	key := "pb_6huxaZ4zyBkZKw1Ro4dlRvC60h4ocTr3rk3WqgUS"
	b.ReportAllocs()
	for b.Loop() {
		_ = HashAPIKey(key)
	}
}
