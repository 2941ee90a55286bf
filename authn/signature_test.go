package authn

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
)

// The §4.3 and §4.6 example values.
const (
	exampleSecret    = "pbs_cQskiXSwHyyqP7w58NMDEXFUBVHwOFsxcpEryFiq"
	exampleTimestamp = "1796378100"
	exampleNonce     = "n7Qx2LpZr8Vw4Ks1"
	exampleSignature = "v1=8d6869dfb0b55f1afdeed00b654df84c775092e6c131d8c826a08b6fb46d6bb4"
	exampleBody      = `{"name":"Support Bot"}`
	exampleCanonical = "v1\nPOST\n/api/servers\n1796378100\nn7Qx2LpZr8Vw4Ks1\n" +
		"content-type:application/json;x-alloy-userid:;x-alloy-user-token:;x-credential-id:;x-mcp-server-id:;x-redirect-uri:\n" +
		"f574b2f30ce1c099adbb657be78b46250680da2a8ef52f6ecfcf4880bdedf6c3"
)

func TestCanonicalContractExample(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}}
	got, err := Canonical("POST", "/api/servers", exampleTimestamp, exampleNonce, h, []byte(exampleBody))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(exampleCanonical, got); diff != "" {
		t.Fatalf("canonical (-want +got):\n%s", diff)
	}
	_, _, sig, err := ParseSignatureHeaders(http.Header{
		HeaderTimestamp: {exampleTimestamp}, HeaderNonce: {exampleNonce}, HeaderSignature: {exampleSignature},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !VerifySignature(exampleSecret, got, sig) {
		t.Fatal("the contract's example signature does not verify")
	}
	if s := Sign(exampleSecret, got); s != exampleSignature {
		t.Fatalf("Sign = %s, want %s", s, exampleSignature)
	}
	// One bit off anywhere fails.
	for _, tt := range []struct{ name, secret, canonical string }{
		{name: "SecretWithoutPrefix", secret: strings.TrimPrefix(exampleSecret, "pbs_"), canonical: got},
		{name: "OtherSecret", secret: exampleSecret[:len(exampleSecret)-1] + "r", canonical: got},
		{name: "TrailingNewline", secret: exampleSecret, canonical: got + "\n"},
		{name: "LowercaseMethod", secret: exampleSecret, canonical: strings.Replace(got, "POST", "post", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if VerifySignature(tt.secret, tt.canonical, sig) {
				t.Fatal("verified")
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	const bodyHash = "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name    string
		method  string
		target  string
		headers http.Header
		want    string // "" means signature_invalid
	}{
		{name: "AllSignedHeadersTrimmed", method: "get", target: "/mcp/a%2Fb?x=1&y=%20", headers: http.Header{
			"Content-Type":       {" application/json; charset=utf-8\t"},
			"X-Alloy-Userid":     {"cust-42"},
			"X-Alloy-User-Token": {"a.b.c"},
			"X-Credential-Id":    {"cred_x"},
			"X-Mcp-Server-Id":    {"srv-1"},
			"X-Redirect-Uri":     {"https://app.example/cb?a=b"},
			"X-Other":            {"ignored"},
		}, want: "v1\nGET\n/mcp/a%2Fb?x=1&y=%20\n1\nnnnnnnnnnnnnnnnn\n" +
			"content-type:application/json; charset=utf-8;x-alloy-userid:cust-42;x-alloy-user-token:a.b.c;" +
			"x-credential-id:cred_x;x-mcp-server-id:srv-1;x-redirect-uri:https://app.example/cb?a=b" + bodyHash},
		{name: "NoHeaders", method: "DELETE", target: "/api/keys/key_1", headers: http.Header{},
			want: "v1\nDELETE\n/api/keys/key_1\n1\nnnnnnnnnnnnnnnnn\n" +
				"content-type:;x-alloy-userid:;x-alloy-user-token:;x-credential-id:;x-mcp-server-id:;x-redirect-uri:" + bodyHash},
		{name: "EmptyValueLikeAbsent", method: "GET", target: "/", headers: http.Header{"X-Alloy-Userid": {""}},
			want: "v1\nGET\n/\n1\nnnnnnnnnnnnnnnnn\n" +
				"content-type:;x-alloy-userid:;x-alloy-user-token:;x-credential-id:;x-mcp-server-id:;x-redirect-uri:" + bodyHash},
		{name: "DuplicateUserID", method: "GET", target: "/", headers: http.Header{"X-Alloy-Userid": {"a", "b"}}},
		{name: "DuplicateRedirect", method: "GET", target: "/", headers: http.Header{"X-Redirect-Uri": {"a", "a"}}},
		{name: "DuplicateContentType", method: "GET", target: "/", headers: http.Header{"Content-Type": {"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.method, tt.target, "1", "nnnnnnnnnnnnnnnn", tt.headers, nil)
			if tt.want == "" {
				if reasonOfSig(err) != ReasonSignatureInvalid {
					t.Fatalf("err = %v, want signature_invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func reasonOfSig(err error) string {
	var pe *patchbay.Error
	if !errors.As(err, &pe) || pe.Code != patchbay.EUnauthorized || pe.Message != UnauthorizedMessage {
		return "not a 401"
	}
	r, _ := pe.Details["reason"].(string)
	return r
}

func TestParseSignatureHeaders(t *testing.T) {
	okSig := "v1=" + strings.Repeat("ab", 32)
	tests := []struct {
		name           string
		ts, nonce, sig []string // nil: header absent
		wantTS         int64
		reason         string // "" means accepted
	}{
		{name: "Valid", ts: []string{"1796378100"}, nonce: []string{exampleNonce}, sig: []string{okSig}, wantTS: 1796378100},
		{name: "LeadingZeros", ts: []string{"0001796378100"}, nonce: []string{exampleNonce}, sig: []string{okSig}, wantTS: 1796378100},
		{name: "Nonce64", ts: []string{"1"}, nonce: []string{strings.Repeat("a_-Z9", 12) + "abcd"}, sig: []string{okSig}, wantTS: 1},
		{name: "AllMissing", reason: ReasonSignatureMissing},
		{name: "TimestampMissing", nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureMissing},
		{name: "NonceMissing", ts: []string{"1"}, sig: []string{okSig}, reason: ReasonSignatureMissing},
		{name: "SignatureMissing", ts: []string{"1"}, nonce: []string{exampleNonce}, reason: ReasonSignatureMissing},
		{name: "SignatureEmpty", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{""}, reason: ReasonSignatureMissing},
		{name: "SignatureRepeated", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{okSig, okSig}, reason: ReasonSignatureInvalid},
		{name: "NonceRepeatedOthersMissing", nonce: []string{exampleNonce, exampleNonce}, reason: ReasonSignatureInvalid},
		{name: "TimestampSigned", ts: []string{"+1796378100"}, nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "TimestampNegative", ts: []string{"-1"}, nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "TimestampFraction", ts: []string{"1796378100.5"}, nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "TimestampSpace", ts: []string{" 1796378100"}, nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "TimestampOverflow", ts: []string{"99999999999999999999"}, nonce: []string{exampleNonce}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "TimestampMillis", ts: []string{"1796378100000"}, nonce: []string{exampleNonce}, sig: []string{okSig}, wantTS: 1796378100000},
		{name: "NonceShort", ts: []string{"1"}, nonce: []string{"abcdefghijklmno"}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "NonceLong", ts: []string{"1"}, nonce: []string{strings.Repeat("a", 65)}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "NonceBadChar", ts: []string{"1"}, nonce: []string{"abcdefghijklmno+"}, sig: []string{okSig}, reason: ReasonSignatureInvalid},
		{name: "SigUppercaseHex", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{"v1=" + strings.Repeat("AB", 32)}, reason: ReasonSignatureInvalid},
		{name: "SigNoPrefix", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{strings.Repeat("ab", 32)}, reason: ReasonSignatureInvalid},
		{name: "SigV2", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{"v2=" + strings.Repeat("ab", 32)}, reason: ReasonSignatureInvalid},
		{name: "SigShort", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{"v1=" + strings.Repeat("ab", 31)}, reason: ReasonSignatureInvalid},
		{name: "SigTwoValues", ts: []string{"1"}, nonce: []string{exampleNonce}, sig: []string{"t=1,v1=" + strings.Repeat("ab", 32)}, reason: ReasonSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range map[string][]string{HeaderTimestamp: tt.ts, HeaderNonce: tt.nonce, HeaderSignature: tt.sig} {
				if v != nil {
					h[k] = v
				}
			}
			ts, nonce, sig, err := ParseSignatureHeaders(h)
			if tt.reason != "" {
				if got := reasonOfSig(err); got != tt.reason {
					t.Fatalf("reason = %q, want %q (%v)", got, tt.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ts != tt.wantTS || nonce != tt.nonce[0] || hex.EncodeToString(sig) != tt.sig[0][3:] {
				t.Fatalf("got %d %q %x", ts, nonce, sig)
			}
		})
	}
}

func TestRequestTarget(t *testing.T) {
	tests := []struct {
		name string
		raw  string // request line target
		want string
	}{
		{name: "Plain", raw: "/api/servers", want: "/api/servers"},
		{name: "EmptyQueryDropped", raw: "/api/servers?", want: "/api/servers"},
		{name: "QueryVerbatim", raw: "/api/audit?limit=10&cursor=a%2Bb", want: "/api/audit?limit=10&cursor=a%2Bb"},
		{name: "PathNotNormalized", raw: "/mcp/a%2fb/../c", want: "/mcp/a%2fb/../c"},
		{name: "AbsoluteForm", raw: "http://gw.example.com/api/servers?x=1", want: "/api/servers?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + tt.raw + " HTTP/1.1\r\nHost: gw.example.com\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			if got := RequestTarget(r); got != tt.want {
				t.Fatalf("RequestTarget = %q, want %q", got, tt.want)
			}
		})
	}
	if got := RequestTarget(httptest.NewRequest("GET", "/a%20b?q=1", nil)); got != "/a%20b?q=1" {
		t.Fatalf("httptest request: %q", got)
	}
}

func TestCheckSignedRequest(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1796378100, 0)
	secret := patchbay.NewSecret(exampleSecret)
	newReq := func(mod func(r *http.Request, body *string)) (*http.Request, []byte) {
		body := exampleBody
		r := httptest.NewRequest("POST", "/api/servers", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(HeaderTimestamp, exampleTimestamp)
		r.Header.Set(HeaderNonce, exampleNonce)
		r.Header.Set(HeaderSignature, exampleSignature)
		if mod != nil {
			mod(r, &body)
		}
		return r, []byte(body)
	}
	resign := func(r *http.Request, body string) {
		c, err := Canonical(r.Method, RequestTarget(r), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), r.Header, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set(HeaderSignature, Sign(exampleSecret, c))
	}

	tests := []struct {
		name   string
		mod    func(r *http.Request, body *string)
		now    time.Time
		reason string // "" means accepted
	}{
		{name: "ContractExample", now: now},
		{name: "EdgeOfWindowPast", now: now.Add(SignatureWindow)},
		{name: "EdgeOfWindowFuture", now: now.Add(-SignatureWindow)},
		{name: "TooOld", now: now.Add(SignatureWindow + time.Second), reason: ReasonTimestampOutOfWindow},
		{name: "TooNew", now: now.Add(-SignatureWindow - time.Second), reason: ReasonTimestampOutOfWindow},
		{name: "Unsigned", now: now, mod: func(r *http.Request, _ *string) {
			r.Header.Del(HeaderSignature)
			r.Header.Del(HeaderNonce)
			r.Header.Del(HeaderTimestamp)
		}, reason: ReasonSignatureMissing},
		{name: "BodyChanged", now: now, mod: func(_ *http.Request, b *string) { *b = `{"name":"Support Bot!"}` }, reason: ReasonSignatureInvalid},
		{name: "PathChanged", now: now, mod: func(r *http.Request, _ *string) { r.RequestURI = "/api/servers/x" }, reason: ReasonSignatureInvalid},
		{name: "QueryAdded", now: now, mod: func(r *http.Request, _ *string) { r.RequestURI = "/api/servers?a=1" }, reason: ReasonSignatureInvalid},
		{name: "MethodChanged", now: now, mod: func(r *http.Request, _ *string) { r.Method = "PUT" }, reason: ReasonSignatureInvalid},
		{name: "UserHeaderAdded", now: now, mod: func(r *http.Request, _ *string) { r.Header.Set("X-Alloy-Userid", "someone-else") }, reason: ReasonSignatureInvalid},
		{name: "SignedUserHeader", now: now, mod: func(r *http.Request, b *string) {
			r.Header.Set("X-Alloy-Userid", "cust-42")
			resign(r, *b)
		}},
		{name: "RepeatedSignedHeader", now: now, mod: func(r *http.Request, b *string) {
			r.Header.Add("X-Mcp-Server-Id", "a")
			r.Header.Add("X-Mcp-Server-Id", "b")
			r.Header.Set(HeaderNonce, "otherNonce123456")
		}, reason: ReasonSignatureInvalid},
		{name: "TimestampChanged", now: now, mod: func(r *http.Request, _ *string) { r.Header.Set(HeaderTimestamp, "1796378101") }, reason: ReasonSignatureInvalid},
		{name: "TimestampLeadingZeroSignedVerbatim", now: now, mod: func(r *http.Request, b *string) {
			r.Header.Set(HeaderTimestamp, "0"+exampleTimestamp)
			resign(r, *b)
		}},
		{name: "NonceChanged", now: now, mod: func(r *http.Request, _ *string) { r.Header.Set(HeaderNonce, "n7Qx2LpZr8Vw4Ks2") }, reason: ReasonSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonces := NewMemoryNonces(func() time.Time { return tt.now })
			r, body := newReq(tt.mod)
			err := CheckSignedRequest(ctx, r, body, "key_6S6rTyOwqnJ5vDy0", secret, nonces, tt.now)
			if tt.reason != "" {
				if got := reasonOfSig(err); got != tt.reason {
					t.Fatalf("reason = %q, want %q (%v)", got, tt.reason, err)
				}
				if nonces.Len() != 0 {
					t.Fatal("a rejected request consumed its nonce")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Replays are refused, on this key only.
			if err := CheckSignedRequest(ctx, r, body, "key_6S6rTyOwqnJ5vDy0", secret, nonces, tt.now); reasonOfSig(err) != ReasonNonceReused {
				t.Fatalf("replay: %v, want nonce_reused", err)
			}
			if err := CheckSignedRequest(ctx, r, body, "key_other0000000000", secret, nonces, tt.now); err != nil {
				t.Fatalf("same nonce on another key: %v", err)
			}
		})
	}
}

// failingNonces is a NonceStore whose backing store is down.
type failingNonces struct{}

func (failingNonces) UseNonce(context.Context, string, string, time.Duration) (bool, error) {
	return false, patchbay.Errorf(patchbay.EUnavailable, "database unavailable")
}

func TestCheckSignedRequestStoreFailure(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/servers", nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(HeaderTimestamp, exampleTimestamp)
	r.Header.Set(HeaderNonce, exampleNonce)
	r.Header.Set(HeaderSignature, exampleSignature)
	err := CheckSignedRequest(context.Background(), r, []byte(exampleBody), "k", patchbay.NewSecret(exampleSecret), failingNonces{}, time.Unix(1796378100, 0))
	if patchbay.ErrorCode(err) != patchbay.EUnavailable {
		t.Fatalf("err = %v, want the store's UNAVAILABLE passed through", err)
	}
	if err := CheckSignedRequest(context.Background(), r, nil, "k", patchbay.NewSecret(exampleSecret), nil, time.Unix(1796378100, 0)); err == nil || patchbay.ErrorCode(err) != patchbay.EInternal {
		t.Fatalf("nil store: %v", err)
	}
}

func FuzzParseSignatureHeaders(f *testing.F) {
	f.Add(exampleTimestamp, exampleNonce, exampleSignature)
	f.Add("0", strings.Repeat("a", 16), "v1="+strings.Repeat("0", 64))
	f.Add("", "", "")
	f.Add("-1", "short", "v1=")
	f.Add("999999999999999999", strings.Repeat("_", 64), "v1="+strings.Repeat("f", 64))
	f.Add("9999999999999999999", strings.Repeat("-", 65), "V1="+strings.Repeat("F", 64))
	f.Add("1.5", "nonce with space!", "t=1,v1=5f2b9c")
	f.Fuzz(func(t *testing.T, ts, nonce, sig string) {
		h := http.Header{}
		for k, v := range map[string]string{HeaderTimestamp: ts, HeaderNonce: nonce, HeaderSignature: sig} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		gotTS, gotNonce, gotSig, err := ParseSignatureHeaders(h)
		if err != nil {
			if r := reasonOfSig(err); r != ReasonSignatureMissing && r != ReasonSignatureInvalid {
				t.Fatalf("reason %q", r)
			}
			return
		}
		if gotTS < 0 || strconv.FormatInt(gotTS, 10) != strings.TrimLeft(ts, "0") && !(gotTS == 0 && strings.Trim(ts, "0") == "") {
			t.Fatalf("timestamp %q parsed as %d", ts, gotTS)
		}
		if gotNonce != nonce || !validNonce(nonce) {
			t.Fatalf("nonce %q accepted as %q", nonce, gotNonce)
		}
		if len(gotSig) != 32 || "v1="+hex.EncodeToString(gotSig) != sig {
			t.Fatalf("signature %q decoded as %x", sig, gotSig)
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"X-Alloy-Userid": {"cust-42"},
	}
	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_action_alloy","arguments":{"connectorId":"acme-crm","actionId":"deals_list","parameters":{"limit":10}}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonical("POST", "/mcp/support-bot-1a2b3c4d", exampleTimestamp, exampleNonce, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
