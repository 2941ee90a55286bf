package authn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
)

// TestMintContractExample reproduces the §4.4 example: minted at
// 2026-12-04T10:15:00Z for cust-42 of account default with the default TTL.
func TestMintContractExample(t *testing.T) {
	key := HSKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)}
	now := time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)
	tok, exp, err := Mint(key, "default", "cust-42", now, DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 4, 11, 15, 0, 0, time.UTC); !exp.Equal(want) || exp.Location() != time.UTC {
		t.Fatalf("expiresAt = %v, want %v", exp, want)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	// The contract's header segment, byte for byte.
	if diff := cmp.Diff("eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzMjU2LTEiLCJ0eXAiOiJKV1QifQ", parts[0]); diff != "" {
		t.Fatalf("header segment (-want +got):\n%s", diff)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	jti := regexp.MustCompile(`"jti":"([0-9A-HJKMNP-TV-Z]{26})"`).FindSubmatch(payload)
	if jti == nil {
		t.Fatalf("payload has no 26-character ULID jti: %s", payload)
	}
	// With the example's jti substituted, the payload segment is the contract's.
	example := bytes.Replace(payload, jti[1], []byte("01M908SM50080QV0EN8JXGHM6W"), 1)
	want := "eyJ1c2VySWQiOiJjdXN0LTQyIiwic3ViIjoiY3VzdC00MiIsImlzcyI6ImRlZmF1bHQiLCJhdWQiOiJwYXRjaGJheSIsImlhdCI6MTc5NjM3OTMwMCwibmJmIjoxNzk2Mzc5MzAwLCJleHAiOjE3OTYzODI5MDAsImp0aSI6IjAxTTkwOFNNNTAwODBRVjBFTjhKWEdITTZXIn0"
	if diff := cmp.Diff(want, base64.RawURLEncoding.EncodeToString(example)); diff != "" {
		t.Fatalf("payload segment (-want +got):\n%s\npayload: %s", diff, payload)
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(parts[2]) != 43 {
		t.Fatalf("signature segment %q is not 32 bytes of base64url", parts[2])
	}
	// ULIDs carry the mint time: two tokens differ only in jti and signature.
	tok2, _, _ := Mint(key, "default", "cust-42", now, DefaultTokenTTL)
	if tok2 == tok {
		t.Fatal("two minted tokens are identical; jti is not random")
	}
}

func TestMintedTokensVerify(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		key  HSKey
		user string
		ttl  time.Duration
		now  time.Time // verification time
	}{
		{name: "Current", key: f.cur, user: "cust-42", ttl: time.Hour, now: f.now},
		{name: "OddUserChars", key: f.cur, user: "a.b_c@d:e|f+g=h-i", ttl: time.Minute, now: f.now},
		{name: "MaxTTL", key: f.cur, user: "u", ttl: MaxTokenLifetime, now: f.now.Add(MaxTokenLifetime)},
		{name: "PreviousInGrace", key: f.prev, user: "u", ttl: time.Hour, now: f.now.Add(30 * time.Minute)},
		{name: "FractionalTTLTruncated", key: f.cur, user: "u", ttl: 1500 * time.Millisecond, now: f.now.Add(time.Second + Leeway)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, exp, err := Mint(tt.key, f.accountID, tt.user, f.now.Add(400*time.Millisecond), tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			opts := f.opts
			opts.Now = tt.now
			opts.RequireIssuer = true
			cl, err := VerifyUserJWT(tok, f.keys, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := &Claims{
				UserID:    tt.user,
				Subject:   tt.user,
				Issuer:    f.accountID,
				ID:        cl.ID,
				ExpiresAt: exp,
				IssuedAt:  f.now,
				NotBefore: f.now,
				Algorithm: AlgHS256,
				KeyID:     tt.key.KeyID(),
			}
			if diff := cmp.Diff(want, cl); diff != "" {
				t.Fatalf("claims (-want +got):\n%s", diff)
			}
			if len(cl.ID) != 26 {
				t.Fatalf("jti %q is not a ULID", cl.ID)
			}
			if iss, err := PeekIssuer(tok); err != nil || iss != f.accountID {
				t.Fatalf("PeekIssuer = %q, %v", iss, err)
			}
		})
	}
}

func TestMintRejects(t *testing.T) {
	good := HSKey{Version: 1, Secret: bytes.Repeat([]byte{1}, 32)}
	now := time.Unix(fixtureUnix, 0)
	tests := []struct {
		name    string
		key     HSKey
		account string
		user    string
		ttl     time.Duration
		field   string // "" means a plain (wiring) error
	}{
		{name: "BadUser", key: good, account: "acme", user: "a b", ttl: time.Hour, field: "userId"},
		{name: "EmptyUser", key: good, account: "acme", user: "", ttl: time.Hour, field: "userId"},
		{name: "ZeroTTL", key: good, account: "acme", user: "u", ttl: 0, field: "expiresInSeconds"},
		{name: "SubSecondTTL", key: good, account: "acme", user: "u", ttl: 999 * time.Millisecond, field: "expiresInSeconds"},
		{name: "TTLOver30Days", key: good, account: "acme", user: "u", ttl: MaxTokenLifetime + time.Second, field: "expiresInSeconds"},
		{name: "BadAccount", key: good, account: "Acme", user: "u", ttl: time.Hour},
		{name: "ShortSecret", key: HSKey{Version: 1, Secret: []byte("short")}, account: "acme", user: "u", ttl: time.Hour},
		{name: "NoVersion", key: HSKey{Secret: good.Secret}, account: "acme", user: "u", ttl: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := Mint(tt.key, tt.account, tt.user, now, tt.ttl)
			if err == nil || tok != "" {
				t.Fatalf("Mint = %q, %v; want an error", tok, err)
			}
			var pe *patchbay.Error
			isPE := errors.As(err, &pe)
			if tt.field == "" {
				if isPE {
					t.Fatalf("err = %v, want a plain error", err)
				}
				return
			}
			if !isPE || pe.Code != patchbay.EInvalid || pe.Details["field"] != tt.field {
				t.Fatalf("err = %#v, want INVALID_REQUEST on %s", err, tt.field)
			}
		})
	}
}
