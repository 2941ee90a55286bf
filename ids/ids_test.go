package ids

import (
	"strings"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	tests := []struct {
		name   string
		got    string
		prefix string
		n      int
	}{
		{name: "APIKey", got: APIKey(), prefix: "pb_", n: 40},
		{name: "KeyID", got: KeyID(), prefix: "key_", n: 16},
		{name: "SigningSecret", got: SigningSecret(), prefix: "pbs_", n: 40},
		{name: "ServerToken", got: ServerToken(), prefix: "mcp_token_", n: 40},
		{name: "CredentialID", got: CredentialID(), prefix: "cred_", n: 20},
		{name: "FlowID", got: FlowID(), prefix: "", n: 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.got, tt.prefix) || len(tt.got) != len(tt.prefix)+tt.n {
				t.Fatalf("%q: want prefix %q and %d characters after it", tt.got, tt.prefix, tt.n)
			}
			for _, c := range tt.got[len(tt.prefix):] {
				if !strings.ContainsRune(base62, c) {
					t.Fatalf("%q: %q is not base62", tt.got, c)
				}
			}
		})
	}
}

func TestULIDOrdersByTime(t *testing.T) {
	a := ULID(time.UnixMilli(1796379300000))
	b := ULID(time.UnixMilli(1796379300001))
	if len(a) != 26 || len(b) != 26 || a[:10] >= b[:10] {
		t.Fatalf("ULIDs %q %q: want 26 characters ordered by time", a, b)
	}
	if a[0] > '7' {
		t.Fatalf("first ULID digit %q: want <= 7", a[0])
	}
}
