package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
)

func TestParseJWKS(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ed := jwkOKP("ed", edPub)
	ec := jwkEC("ec", &ecKey.PublicKey)
	rs := jwkRSA("rs", &rsaKey.PublicKey)
	set := func(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }
	// with edits a key: replace old by new in its JSON.
	with := func(key, old, new string) string {
		if !strings.Contains(key, old) {
			t.Fatalf("%q not in %s", old, key)
		}
		return strings.Replace(key, old, new, 1)
	}
	x := b64u(edPub)
	rsaN := b64u(rsaKey.N.Bytes())
	raw, _ := ecKey.PublicKey.Bytes()
	ecX := b64u(raw[1:33])
	offCurveY := b64u(append([]byte{}, raw[33:64]...)) // 31 bytes: wrong size
	badPoint := b64u(new(big.Int).Add(new(big.Int).SetBytes(raw[33:]), big.NewInt(1)).FillBytes(make([]byte, 32)))
	tenKeys := make([]string, 11)
	for i := range tenKeys {
		tenKeys[i] = jwkOKP(fmt.Sprintf("k%d", i), edPub)
	}

	tests := []struct {
		name   string
		doc    string
		field  string // "" means accepted
		reason string
		kids   []string
	}{
		{name: "AllThreeTypes", doc: set(ed, ec, rs), kids: []string{"ed", "ec", "rs"}},
		{name: "Empty", doc: `{"keys":[]}`, kids: []string{}},
		{name: "TenKeys", doc: set(tenKeys[:10]...), kids: []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}},
		{name: "UnknownMembersIgnored", doc: `{"keys":[` + with(ed, `"kty"`, `"x5t":"abc","issuer":"https://idp","key_ops":["verify"],"use":"sig","kty"`) + `],"extra":1}`, kids: []string{"ed"}},
		{name: "EscapedMemberNames", doc: set(with(ed, `"kid"`, `"\u006bid"`)), kids: []string{"ed"}},

		{name: "NotJSON", doc: `{"keys":[`, field: "jwtPublicKeys"},
		{name: "Null", doc: `null`, field: "jwtPublicKeys"},
		{name: "Array", doc: `[]`, field: "jwtPublicKeys"},
		{name: "KeysMissing", doc: `{}`, field: "jwtPublicKeys.keys"},
		{name: "KeysNotArray", doc: `{"keys":{}}`, field: "jwtPublicKeys.keys"},
		{name: "KeysDuplicate", doc: `{"keys":[],"keys":[]}`, field: "jwtPublicKeys.keys", reason: "duplicate_member"},
		{name: "ElevenKeys", doc: set(tenKeys...), field: "jwtPublicKeys.keys"},
		{name: "KeyNotObject", doc: `{"keys":["abc"]}`, field: "jwtPublicKeys.keys[0]"},

		{name: "PrivateD", doc: set(ed, with(ed, `"x"`, `"d":"AAAA","x"`)), field: "jwtPublicKeys.keys[1].d", reason: "private_key_member"},
		{name: "PrivateP", doc: set(with(rs, `"n"`, `"p":"AAAA","n"`)), field: "jwtPublicKeys.keys[0].p", reason: "private_key_member"},
		{name: "PrivateQ", doc: set(with(rs, `"n"`, `"q":"AAAA","n"`)), field: "jwtPublicKeys.keys[0].q", reason: "private_key_member"},
		{name: "PrivateDP", doc: set(with(rs, `"n"`, `"dp":"AAAA","n"`)), field: "jwtPublicKeys.keys[0].dp", reason: "private_key_member"},
		{name: "PrivateDQ", doc: set(with(rs, `"n"`, `"dq":"AAAA","n"`)), field: "jwtPublicKeys.keys[0].dq", reason: "private_key_member"},
		{name: "PrivateQI", doc: set(with(rs, `"n"`, `"qi":"AAAA","n"`)), field: "jwtPublicKeys.keys[0].qi", reason: "private_key_member"},
		{name: "SymmetricK", doc: `{"keys":[{"kty":"oct","kid":"s","alg":"HS256","k":"c2VjcmV0"}]}`, field: "jwtPublicKeys.keys[0].k", reason: "private_key_member"},
		{name: "PrivateNull", doc: set(with(ed, `"x"`, `"d":null,"x"`)), field: "jwtPublicKeys.keys[0].d", reason: "private_key_member"},

		{name: "KidMissing", doc: set(with(ed, `"kid":"ed",`, ``)), field: "jwtPublicKeys.keys[0].kid"},
		{name: "KidEmpty", doc: set(with(ed, `"kid":"ed"`, `"kid":""`)), field: "jwtPublicKeys.keys[0].kid"},
		{name: "KidNotString", doc: set(with(ed, `"kid":"ed"`, `"kid":1`)), field: "jwtPublicKeys.keys[0].kid"},
		{name: "KidControlChar", doc: set(with(ed, `"kid":"ed"`, `"kid":"e\nd"`)), field: "jwtPublicKeys.keys[0].kid"},
		{name: "KidTooLong", doc: set(with(ed, `"kid":"ed"`, `"kid":"`+strings.Repeat("k", 257)+`"`)), field: "jwtPublicKeys.keys[0].kid"},
		{name: "KidDuplicate", doc: set(ed, ec, with(rs, `"kid":"rs"`, `"kid":"ed"`)), field: "jwtPublicKeys.keys[2].kid", reason: "duplicate_kid"},
		{name: "MemberDuplicate", doc: set(with(ed, `"x"`, `"x":"AAAA","x"`)), field: "jwtPublicKeys.keys[0].x", reason: "duplicate_member"},

		{name: "AlgMissing", doc: set(with(ed, `"alg":"EdDSA",`, ``)), field: "jwtPublicKeys.keys[0].alg"},
		{name: "AlgInconsistentOKP", doc: set(with(ed, `"alg":"EdDSA"`, `"alg":"ES256"`)), field: "jwtPublicKeys.keys[0].alg"},
		{name: "AlgInconsistentEC", doc: set(with(ec, `"alg":"ES256"`, `"alg":"RS256"`)), field: "jwtPublicKeys.keys[0].alg"},
		{name: "AlgInconsistentRSA", doc: set(with(rs, `"alg":"RS256"`, `"alg":"PS256"`)), field: "jwtPublicKeys.keys[0].alg"},
		{name: "AlgHS256", doc: set(with(rs, `"alg":"RS256"`, `"alg":"HS256"`)), field: "jwtPublicKeys.keys[0].alg"},
		{name: "KtyMissing", doc: set(with(ed, `"kty":"OKP",`, ``)), field: "jwtPublicKeys.keys[0].kty"},
		{name: "KtyOct", doc: `{"keys":[{"kty":"oct","kid":"s","alg":"HS256"}]}`, field: "jwtPublicKeys.keys[0].kty"},
		{name: "UseEnc", doc: set(with(rs, `"use":"sig"`, `"use":"enc"`)), field: "jwtPublicKeys.keys[0].use"},
		{name: "KeyOpsWithoutVerify", doc: set(with(ed, `"kty"`, `"key_ops":["encrypt"],"kty"`)), field: "jwtPublicKeys.keys[0].key_ops"},

		{name: "OKPCurveX25519", doc: set(with(ed, `"Ed25519"`, `"X25519"`)), field: "jwtPublicKeys.keys[0].crv"},
		{name: "OKPShortX", doc: set(with(ed, x, x[:40])), field: "jwtPublicKeys.keys[0].x"},
		{name: "OKPPaddedX", doc: set(with(ed, x, x+"=")), field: "jwtPublicKeys.keys[0].x"},
		{name: "OKPStdAlphabetX", doc: set(with(ed, `"x":"`, `"x":"+`)), field: "jwtPublicKeys.keys[0].x"},
		{name: "ECCurveP384", doc: set(with(ec, `"P-256"`, `"P-384"`)), field: "jwtPublicKeys.keys[0].crv"},
		{name: "ECShortY", doc: set(with(ec, `"y":"`, `"y":"`+offCurveY+`","z":"`)), field: "jwtPublicKeys.keys[0].y"},
		{name: "ECPointNotOnCurve", doc: set(with(ec, `"y":"`, `"y":"`+badPoint+`","z":"`)), field: "jwtPublicKeys.keys[0].x"},
		{name: "ECMissingX", doc: set(with(ec, `"x":"`+ecX+`",`, ``)), field: "jwtPublicKeys.keys[0].x"},
		{name: "RSASmallModulus", doc: set(jwkRSA("rs", &small.PublicKey)), field: "jwtPublicKeys.keys[0].n"},
		{name: "RSAEvenModulus", doc: set(with(rs, rsaN, b64u(new(big.Int).Add(rsaKey.N, big.NewInt(1)).Bytes()))), field: "jwtPublicKeys.keys[0].n"},
		{name: "RSAExponentOne", doc: set(with(rs, `"e":"AQAB"`, `"e":"AQ"`)), field: "jwtPublicKeys.keys[0].e"},
		{name: "RSAExponentEven", doc: set(with(rs, `"e":"AQAB"`, `"e":"AQAA"`)), field: "jwtPublicKeys.keys[0].e"},
		{name: "RSAExponentHuge", doc: set(with(rs, `"e":"AQAB"`, `"e":"AQAAAAAB"`)), field: "jwtPublicKeys.keys[0].e"},
		{name: "RSAMissingN", doc: set(with(rs, `"n":"`+rsaN+`",`, ``)), field: "jwtPublicKeys.keys[0].n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseJWKS([]byte(tt.doc))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ParseJWKS: %v", err)
				}
				if diff := cmp.Diff(tt.kids, ks.KeyIDs()); diff != "" {
					t.Fatalf("kids (-want +got):\n%s", diff)
				}
				return
			}
			var pe *patchbay.Error
			if !errors.As(err, &pe) || pe.Code != patchbay.EInvalid {
				t.Fatalf("err = %v, want INVALID_REQUEST", err)
			}
			if got := pe.Details["field"]; got != tt.field {
				t.Fatalf("field = %v, want %q (%v)", got, tt.field, err)
			}
			if got, _ := pe.Details["reason"].(string); got != tt.reason {
				t.Fatalf("reason = %q, want %q", got, tt.reason)
			}
			if strings.Contains(pe.Message, "AAAA") || strings.Contains(pe.Message, x) {
				t.Fatalf("message repeats key material: %q", pe.Message)
			}
		})
	}
}

func TestKeySetMarshalRoundTrip(t *testing.T) {
	f := newFixture(t)
	ks := f.keys.Public
	b, err := ks.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseJWKS(b)
	if err != nil {
		t.Fatalf("ParseJWKS(MarshalJSON()): %v\n%s", err, b)
	}
	b2, _ := again.MarshalJSON()
	if diff := cmp.Diff(string(b), string(b2)); diff != "" {
		t.Fatalf("round trip (-first +second):\n%s", diff)
	}
	if strings.Contains(string(b), `"use"`) {
		t.Fatalf("normalized set keeps unused members: %s", b)
	}
	// The re-parsed set verifies what the original verified.
	tok := f.token(hdr("RS256", "rsa-1"), f.claims(nil), f.signer(AlgRS256))
	keys := *f.keys
	keys.Public = again
	if _, err := VerifyUserJWT(tok, &keys, f.opts); err != nil {
		t.Fatal(err)
	}
	var empty *KeySet
	if b, _ := empty.MarshalJSON(); string(b) != `{"keys":[]}` {
		t.Fatalf("nil set marshals as %s", b)
	}
}

// TestParseJWKSContractExample parses the key of the §4.5 account example.
func TestParseJWKSContractExample(t *testing.T) {
	doc := `{"keys": [{"kty":"OKP","crv":"Ed25519","kid":"idp-2026","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	ks, err := ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ks.MarshalJSON()
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-2026","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
