package connector

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

// TestCanonicalNumbers uses the IEEE 754 test values of RFC 8785 Appendix B.
func TestCanonicalNumbers(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := math.Float64frombits(tt.bits)
			if got := string(appendES(nil, f)); got != tt.want {
				t.Errorf("appendES(%#016x) = %s, want %s", tt.bits, got, tt.want)
			}
			// Through Canonical too, from Go's shortest text of the value.
			got, err := Canonical(json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64)))
			if err != nil || string(got) != tt.want {
				t.Errorf("Canonical = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{ // RFC 8785 §3.2.2
			name: "RFCExample",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{ // RFC 8785 §3.2.3: sorting by UTF-16 code units
			name: "RFCSorting",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{name: "Nested", in: ` { "b" : [ {"z":1, "a":2} ], "a" : {} } `, want: `{"a":{},"b":[{"a":2,"z":1}]}`},
		{name: "NoHTMLEscaping", in: `{"h":"<a&b>","u":"\u2028"}`, want: "{\"h\":\"<a&b>\",\"u\":\"\u2028\"}"},
		{name: "Integers", in: `[10, -0, 1e2, 100.0, 12345678901234567890]`, want: `[10,0,100,100,12345678901234567000]`},
		{name: "Underflow", in: `[1e-400]`, want: `[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(json.RawMessage(tt.in))
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `[1e400]`, `{`, `1 2`} {
		if _, err := Canonical(json.RawMessage(bad)); err == nil {
			t.Errorf("Canonical(%s) succeeded", bad)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add(`{"b":[1,2.5,"x"],"a":{"\u00e9":null}}`)
	f.Add(`[1e21, 1e-7, -0.0, 123456789012345678]`)
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Canonical(json.RawMessage(in))
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Canonical(%q) = %q: invalid JSON", in, out)
		}
		again, err := Canonical(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}
