package authn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/patchbay-mcp/patchbay"
)

// Limits on registered public keys (§4.4, §4.5).
const (
	MaxJWKSKeys    = 10
	MinRSABits     = 2048
	MaxRSABits     = 8192
	maxKIDLen      = 256
	jwksFieldRoot  = "jwtPublicKeys"
	reasonPrivate  = "private_key_member"
	reasonDupKID   = "duplicate_kid"
	reasonDupField = "duplicate_member"
)

// KeySet is an account's registered public keys, parsed and checked once so
// that verification only looks a key up by kid. A nil *KeySet holds no keys.
type KeySet struct {
	keys []publicKey // registration order; at most MaxJWKSKeys, so a scan beats a map
}

// publicKey is one verified JWK.
type publicKey struct {
	kid string
	alg alg // algEdDSA, algES256 or algRS256
	// The public members as canonical base64url, for MarshalJSON.
	x, y, n, e string
	ed         ed25519.PublicKey
	ec         *ecdsa.PublicKey
	rsa        *rsa.PublicKey
}

// Len returns the number of keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// KeyIDs returns the kids in registration order.
func (s *KeySet) KeyIDs() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.keys))
	for i := range s.keys {
		out[i] = s.keys[i].kid
	}
	return out
}

func (s *KeySet) lookup(kid []byte) *publicKey {
	if s == nil {
		return nil
	}
	for i := range s.keys {
		if s.keys[i].kid == string(kid) {
			return &s.keys[i]
		}
	}
	return nil
}

// verify checks a signature with golang-jwt's implementation of the key's
// algorithm. The algorithm was pinned by the caller; sig is copied because
// it aliases the caller's stack buffer.
func (k *publicKey) verify(input string, sig []byte) bool {
	sig = bytes.Clone(sig)
	switch k.alg {
	case algEdDSA:
		return jwt.SigningMethodEdDSA.Verify(input, sig, k.ed) == nil
	case algES256:
		return jwt.SigningMethodES256.Verify(input, sig, k.ec) == nil
	case algRS256:
		return jwt.SigningMethodRS256.Verify(input, sig, k.rsa) == nil
	}
	return false
}

// jwkJSON is the normalized, public-only form of a key, with members in the
// order the contract shows them.
type jwkJSON struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// MarshalJSON returns the set as a JWKS document holding only the members
// that were understood (kty, crv, kid, alg and the public key), so that what
// is stored and shown back is exactly what verifies. ParseJWKS accepts it.
func (s *KeySet) MarshalJSON() ([]byte, error) {
	var doc struct {
		Keys []jwkJSON `json:"keys"`
	}
	doc.Keys = make([]jwkJSON, 0, s.Len())
	for i := 0; i < s.Len(); i++ {
		k := &s.keys[i]
		j := jwkJSON{Kid: k.kid, Alg: k.alg.String(), X: k.x, Y: k.y, N: k.n, E: k.e}
		switch k.alg {
		case algEdDSA:
			j.Kty, j.Crv = "OKP", "Ed25519"
		case algES256:
			j.Kty, j.Crv = "EC", "P-256"
		case algRS256:
			j.Kty = "RSA"
		}
		doc.Keys = append(doc.Keys, j)
	}
	return json.Marshal(doc)
}

// ParseJWKS parses and checks the JWKS document an account registers
// (PUT /api/account, member jwtPublicKeys): at most 10 keys, each EdDSA
// (OKP, Ed25519), ES256 (EC, P-256) or RS256 (RSA, 2048..8192-bit modulus),
// each with a unique kid and an alg that matches its type. A key carrying a
// private member (d, p, q, dp, dq, qi, k, oth) is refused, so private key
// material is never stored. Members this package does not use are ignored,
// as RFC 7517 §4 and §5 require, but must not be duplicated.
//
// Errors are *patchbay.Error with code INVALID_REQUEST and details.field
// naming the offending member, for example "jwtPublicKeys.keys[1].kid"; a
// private member also has details.reason "private_key_member". Messages
// never repeat key material.
func ParseJWKS(data []byte) (*KeySet, error) {
	if !isJSONObject(data) {
		return nil, jwksError(jwksFieldRoot, "must be a JSON Web Key Set object")
	}
	var keysVal []byte
	it, _ := newObjectIter(data)
	for {
		name, val, ok := it.next()
		if !ok {
			break
		}
		if name, ok = memberName(name); !ok {
			return nil, jwksError(jwksFieldRoot, "must be a JSON Web Key Set object")
		}
		if string(name) != "keys" {
			continue
		}
		if keysVal != nil {
			return nil, jwksError(jwksFieldRoot+".keys", "appears more than once").Reason(reasonDupField)
		}
		keysVal = val
	}
	if it.bad {
		return nil, jwksError(jwksFieldRoot, "must be a JSON Web Key Set object")
	}
	if len(keysVal) == 0 || keysVal[0] != '[' {
		return nil, jwksError(jwksFieldRoot+".keys", "must be an array of JSON Web Keys")
	}

	set := &KeySet{}
	arr := arrayIter{data: keysVal, i: 1}
	for i := 0; ; i++ {
		el, ok := arr.next()
		if !ok {
			break
		}
		if i == MaxJWKSKeys {
			return nil, jwksError(jwksFieldRoot+".keys", "may hold at most 10 keys").With("limit", MaxJWKSKeys)
		}
		path := jwksFieldRoot + ".keys[" + strconv.Itoa(i) + "]"
		k, err := parseJWK(el, path)
		if err != nil {
			return nil, err
		}
		if set.lookup([]byte(k.kid)) != nil {
			return nil, jwksError(path+".kid", "duplicates the kid of another key").Reason(reasonDupKID)
		}
		set.keys = append(set.keys, k)
	}
	if arr.bad {
		return nil, jwksError(jwksFieldRoot+".keys", "must be an array of JSON Web Keys")
	}
	return set, nil
}

func jwksError(field, msg string) *patchbay.Error {
	return patchbay.Errorf(patchbay.EInvalid, "%s %s", field, msg).Field(field)
}

// jwkMembers are the raw values of the members parseJWK checks.
type jwkMembers struct {
	kty, kid, alg, crv, x, y, n, e, use, keyOps []byte
}

// parseJWK checks one key; path is its field path ("jwtPublicKeys.keys[0]").
func parseJWK(el []byte, path string) (publicKey, *patchbay.Error) {
	var k publicKey
	it, ok := newObjectIter(el)
	if !ok {
		return k, jwksError(path, "must be a JSON Web Key object")
	}
	var m jwkMembers
	seen := make(map[string]bool, 8)
	for {
		rawName, val, ok := it.next()
		if !ok {
			break
		}
		name, ok := memberName(rawName)
		if !ok {
			return k, jwksError(path, "must be a JSON Web Key object")
		}
		field := path + "." + string(name)
		if seen[string(name)] {
			return k, jwksError(field, "appears more than once").Reason(reasonDupField)
		}
		seen[string(name)] = true
		switch string(name) {
		case "d", "p", "q", "dp", "dq", "qi", "k", "oth":
			return k, jwksError(field, "is a private key member; register public keys only").Reason(reasonPrivate)
		case "kty":
			m.kty = val
		case "kid":
			m.kid = val
		case "alg":
			m.alg = val
		case "crv":
			m.crv = val
		case "x":
			m.x = val
		case "y":
			m.y = val
		case "n":
			m.n = val
		case "e":
			m.e = val
		case "use":
			m.use = val
		case "key_ops":
			m.keyOps = val
		}
	}
	if it.bad {
		return k, jwksError(path, "must be a JSON Web Key object")
	}

	kty, ok := stringValue(m.kty)
	if !ok {
		return k, jwksError(path+".kty", "must be \"OKP\", \"EC\" or \"RSA\"")
	}
	kid, ok := stringValue(m.kid)
	if !ok || !validKID(kid) {
		return k, jwksError(path+".kid", "must be a string of 1 to 256 characters without control characters")
	}
	k.kid = string(kid)
	alg, ok := stringValue(m.alg)
	if !ok {
		return k, jwksError(path+".alg", "must be \"EdDSA\", \"ES256\" or \"RS256\"")
	}
	if m.use != nil {
		if use, ok := stringValue(m.use); !ok || string(use) != "sig" {
			return k, jwksError(path+".use", "must be \"sig\" when present")
		}
	}
	if m.keyOps != nil && !keyOpsAllowVerify(m.keyOps) {
		return k, jwksError(path+".key_ops", "must be an array of strings that contains \"verify\" when present")
	}

	switch string(kty) {
	case "OKP":
		return k, parseOKP(&k, m, alg, path)
	case "EC":
		return k, parseEC(&k, m, alg, path)
	case "RSA":
		return k, parseRSA(&k, m, alg, path)
	}
	return k, jwksError(path+".kty", "must be \"OKP\", \"EC\" or \"RSA\"")
}

func parseOKP(k *publicKey, m jwkMembers, alg []byte, path string) *patchbay.Error {
	if string(alg) != AlgEdDSA {
		return jwksError(path+".alg", "must be \"EdDSA\" for an OKP key")
	}
	if crv, ok := stringValue(m.crv); !ok || string(crv) != "Ed25519" {
		return jwksError(path+".crv", "must be \"Ed25519\"")
	}
	x, ok := base64Member(m.x, ed25519.PublicKeySize)
	if !ok {
		return jwksError(path+".x", "must be the unpadded base64url encoding of a 32-byte Ed25519 public key")
	}
	k.alg, k.ed = algEdDSA, ed25519.PublicKey(x)
	k.x = base64.RawURLEncoding.EncodeToString(x)
	return nil
}

func parseEC(k *publicKey, m jwkMembers, alg []byte, path string) *patchbay.Error {
	if string(alg) != AlgES256 {
		return jwksError(path+".alg", "must be \"ES256\" for an EC key")
	}
	if crv, ok := stringValue(m.crv); !ok || string(crv) != "P-256" {
		return jwksError(path+".crv", "must be \"P-256\"")
	}
	x, ok := base64Member(m.x, 32)
	if !ok {
		return jwksError(path+".x", "must be the unpadded base64url encoding of a 32-byte P-256 coordinate")
	}
	y, ok := base64Member(m.y, 32)
	if !ok {
		return jwksError(path+".y", "must be the unpadded base64url encoding of a 32-byte P-256 coordinate")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return jwksError(path+".x", "and y are not a point on P-256")
	}
	k.alg, k.ec = algES256, pub
	k.x = base64.RawURLEncoding.EncodeToString(x)
	k.y = base64.RawURLEncoding.EncodeToString(y)
	return nil
}

func parseRSA(k *publicKey, m jwkMembers, alg []byte, path string) *patchbay.Error {
	if string(alg) != AlgRS256 {
		return jwksError(path+".alg", "must be \"RS256\" for an RSA key")
	}
	nb, ok := base64Member(m.n, -1)
	if ok {
		nb = bytes.TrimLeft(nb, "\x00")
	}
	n := new(big.Int).SetBytes(nb)
	if !ok || n.BitLen() < MinRSABits || n.BitLen() > MaxRSABits || n.Bit(0) == 0 {
		return jwksError(path+".n", "must be an odd RSA modulus of 2048 to 8192 bits, unpadded base64url")
	}
	eb, ok := base64Member(m.e, -1)
	if ok {
		eb = bytes.TrimLeft(eb, "\x00")
	}
	if !ok || len(eb) == 0 || len(eb) > 4 {
		return jwksError(path+".e", "must be an odd public exponent from 3 to 2^31-1, unpadded base64url")
	}
	var e uint64
	for _, c := range eb {
		e = e<<8 | uint64(c)
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return jwksError(path+".e", "must be an odd public exponent from 3 to 2^31-1, unpadded base64url")
	}
	k.alg, k.rsa = algRS256, &rsa.PublicKey{N: n, E: int(e)}
	k.n = base64.RawURLEncoding.EncodeToString(nb)
	k.e = base64.RawURLEncoding.EncodeToString(eb)
	return nil
}

// base64Member decodes a string member holding unpadded base64url; size < 0
// accepts any non-empty length.
func base64Member(v []byte, size int) ([]byte, bool) {
	s, ok := stringValue(v)
	if !ok || len(s) == 0 {
		return nil, false
	}
	out := make([]byte, len(s)*3/4)
	n, ok := decodeBase64URL(out, string(s))
	if !ok || size >= 0 && n != size || n == 0 {
		return nil, false
	}
	return out[:n], true
}

func validKID(kid []byte) bool {
	if len(kid) == 0 || len(kid) > maxKIDLen || !utf8.Valid(kid) {
		return false
	}
	for _, c := range string(kid) {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 {
			return false
		}
	}
	return true
}

// keyOpsAllowVerify reports whether key_ops is an array of strings that
// includes "verify": a key restricted to other operations must not verify.
func keyOpsAllowVerify(v []byte) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	it := arrayIter{data: v, i: 1}
	found := false
	for {
		el, ok := it.next()
		if !ok {
			break
		}
		s, ok := stringValue(el)
		if !ok {
			return false
		}
		found = found || string(s) == "verify"
	}
	return found && !it.bad
}
