package authn

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

// Fuzz targets for the request-facing parsers that the existing targets
// (FuzzParseSignatureHeaders, FuzzVerifyUserJWT, FuzzParseClaims) do not
// reach: the canonical string over arbitrary headers, the Authorization
// header, and registered JWKS documents (PUT /api/account).

func FuzzCanonical(f *testing.F) {
	f.Add("POST", "/api/servers", "1796378100", exampleNonce, "application/json", "", "", []byte(`{"name":"Support Bot"}`), false)
	f.Add("get", "/api/servers?limit=1&offset=0", "0", strings.Repeat("n", 16), "", "cust-42", "a.b.c", []byte(nil), true)
	f.Add("PUT", "/api/servers/x%2Fy", "1", "-_-_-_-_-_-_-_-_", " application/json\t", " u ", "", []byte("\x00\xff"), true)
	f.Add("POST", "/mcp/s/t", "17963781000", strings.Repeat("Z", 64), "text/plain", "\n", "\r", []byte("{}"), false)
	f.Fuzz(func(t *testing.T, method, target, ts, nonce, ctype, user, token string, body []byte, dup bool) {
		h := http.Header{}
		if ctype != "" {
			h["Content-Type"] = []string{ctype}
		}
		if user != "" {
			h["X-Alloy-Userid"] = []string{user}
			if dup {
				h["X-Alloy-Userid"] = append(h["X-Alloy-Userid"], user)
			}
		}
		if token != "" {
			h["X-Alloy-User-Token"] = []string{token}
		}
		can, err := Canonical(method, target, ts, nonce, h, body)
		if dup && user != "" {
			if reasonOfSig(err) != ReasonSignatureInvalid {
				t.Fatalf("repeated signed header: err %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Canonical: %v", err)
		}
		// The fixed lines come first, the body hash last, and the
		// signed-header line always names all six headers.
		lines := strings.Split(can, "\n")
		upper := []byte(method)
		for i, c := range upper {
			if c >= 'a' && c <= 'z' {
				upper[i] = c - 'a' + 'A'
			}
		}
		if !strings.HasPrefix(can, "v1\n"+string(upper)+"\n"+target+"\n"+ts+"\n"+nonce+"\n") {
			t.Fatalf("canonical starts %q", can[:min(len(can), 40)])
		}
		last := lines[len(lines)-1]
		if len(last) != 64 || strings.Trim(last, "0123456789abcdef") != "" {
			t.Fatalf("body hash line %q", last)
		}
		if !strings.Contains(can, "x-alloy-userid:") || !strings.Contains(can, ";x-redirect-uri:") {
			t.Fatalf("signed headers missing: %q", can)
		}
		// Signing and verifying agree; any change of body breaks it.
		sig := Sign(exampleSecret, can)
		raw, ok := parseSignature(sig)
		if !ok || !VerifySignature(exampleSecret, can, raw) {
			t.Fatal("Sign/VerifySignature disagree")
		}
		other, err := Canonical(method, target, ts, nonce, h, append(bytes.Clone(body), 'x'))
		if err != nil || VerifySignature(exampleSecret, other, raw) {
			t.Fatal("signature survives a changed body")
		}
		if VerifySignature("", can, raw) || VerifySignature(exampleSecret, can, raw[:31]) {
			t.Fatal("verified with an empty secret or a short signature")
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer pb_ASffWA7cJ26fPsKQuE0IevrTNyrnCdQqNq9ll8fe", "bearer a.b.c", "BEARER x", "Bearer  x",
		"Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer\tx", "Bearer pb_" + strings.Repeat("a", 32), "Bearer ..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		v, ok := ParseBearer(header)
		if !ok {
			if v != "" {
				t.Fatalf("value %q with ok=false", v)
			}
			return
		}
		if v == "" || strings.ContainsAny(v, " \t") || !strings.EqualFold(header[:7], "bearer ") || header[7:] != v {
			t.Fatalf("ParseBearer(%q) = %q", header, v)
		}
		if ValidAPIKeyFormat(v, true) {
			if !strings.HasPrefix(v, APIKeyPrefix) || LooksLikeJWT(v) {
				t.Fatalf("%q is both an API key and a JWT", v)
			}
			if ValidAPIKeyFormat(v, false) && len(v) != 43 {
				t.Fatalf("regular API key of length %d", len(v))
			}
		}
		if LooksLikeJWT(v) != (strings.Count(v, ".") == 2) {
			t.Fatalf("LooksLikeJWT(%q)", v)
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	for _, s := range []string{
		`{"keys":[]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-2026","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"x"}]}`,
		`{"keys":[{"kty":"RSA","kid":"r","alg":"RS256","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","alg":"ES256","x":"AA","y":"AA"}]}`,
		`{"keys":[{"kty":"oct","kid":"s","alg":"HS256","k":"c2VjcmV0"}]}`,
		`{"keys":{}}`, `{"keys":[1,2]}`, `{"keys":[],"keys":[]}`, `[]`, `null`, `{`, `{"keys":[{"kid":"\ud800"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseJWKS(data)
		if err != nil {
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			field, _ := patchbay.ErrorDetails(err)["field"].(string)
			if !strings.HasPrefix(field, "jwtPublicKeys") {
				t.Fatalf("field %q", field)
			}
			return
		}
		if set.Len() > MaxJWKSKeys {
			t.Fatalf("%d keys accepted", set.Len())
		}
		// What is stored re-parses to the same set, without private members.
		out, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		for _, private := range []string{`"d":`, `"p":`, `"q":`, `"dp":`, `"dq":`, `"qi":`, `"k":`} {
			if strings.Contains(string(out), private) {
				t.Fatalf("stored JWKS holds %s: %s", private, out)
			}
		}
		again, err := ParseJWKS(out)
		if err != nil {
			t.Fatalf("stored JWKS %s does not re-parse: %v", out, err)
		}
		if strings.Join(again.KeyIDs(), "\x00") != strings.Join(set.KeyIDs(), "\x00") {
			t.Fatalf("kids changed: %v -> %v", set.KeyIDs(), again.KeyIDs())
		}
	})
}
