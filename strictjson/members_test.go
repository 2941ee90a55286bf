package strictjson

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "Empty", in: ` {} `, want: nil},
		{name: "Order", in: `{"b":1,"a":{"x":[1,2]},"c":"s"}`, want: []string{"b=1", `a={"x":[1,2]}`, `c="s"`}},
		{name: "EscapedName", in: `{"\u006eame":true}`, want: []string{"name=true"}},
		{name: "CaseKept", in: `{"Name":1,"name":2}`, want: []string{"Name=1", "name=2"}},
		{name: "Array", in: `[1]`, wantErr: true},
		{name: "Trailing", in: `{} x`, wantErr: true},
		{name: "Broken", in: `{"a":}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Members([]byte(tt.in), func(n, v []byte) error {
				got = append(got, string(n)+"="+strings.TrimSpace(string(v)))
				return nil
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Fatalf("members (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"bench-rest","actionId":"get_small","parameters":{"itemId":"42","fields":["name","owner"]}}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
