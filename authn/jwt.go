package authn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
)

// Rules of §4.4.
const (
	// MaxTokenLen bounds a user JWT; longer tokens are rejected unparsed.
	MaxTokenLen = 8192
	// Leeway absorbs clock skew in exp, nbf and iat.
	Leeway = 60 * time.Second
	// MaxTokenLifetime bounds exp - (iat, or now when iat is absent).
	MaxTokenLifetime = 30 * 24 * time.Hour
	// Audience is the aud value every instance accepts, besides its public URL.
	Audience = "patchbay"
	// MinHSSecretLen is the shortest HS256 secret that signs or verifies
	// anything. Account secrets are 32 random bytes; a shorter or empty secret
	// means a wiring bug, and must fail closed rather than accept a guessable MAC.
	MinHSSecretLen = 32
	// HSKeyIDPrefix starts the kid of an account's HS256 secrets ("hs256-1").
	HSKeyIDPrefix = "hs256-"
)

// The JWS algorithms a user JWT may use (§4.4). Anything else is rejected.
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// Values of details.reason on authentication failures.
const (
	ReasonTokenExpired = "token_expired"
	ReasonTokenInvalid = "token_invalid"
)

// UnauthorizedMessage is the public message of every 401 (§4.2).
const UnauthorizedMessage = "Invalid or missing authentication"

// cause says, for logs only, why a token or signature was refused. It is a
// string type so that the causes are constants rather than package variables,
// and it never carries token or key material.
type cause string

func (c cause) Error() string { return "authn: " + string(c) }

const (
	errNoKeys         cause = "no verification keys"
	errTooLong        cause = "token longer than 8192 bytes"
	errShape          cause = "token is not three dot-separated segments"
	errEncoding       cause = "segment is not unpadded canonical base64url"
	errHeaderJSON     cause = "header is not a JSON object"
	errPayloadJSON    cause = "payload is not a JSON object"
	errDuplicate      cause = "duplicate member name"
	errCrit           cause = "crit header present"
	errAlg            cause = "alg missing or not allowed"
	errKID            cause = "kid missing, malformed or unknown"
	errKeyAlg         cause = "registered key's alg differs from the header alg"
	errSignature      cause = "signature mismatch"
	errExpMissing     cause = "exp missing or not numeric"
	errExpired        cause = "token expired"
	errClaimType      cause = "registered claim has the wrong JSON type"
	errNotYetValid    cause = "nbf in the future"
	errIssuedInFuture cause = "iat in the future"
	errLifetime       cause = "lifetime over 30 days"
	errIssuer         cause = "iss missing or not the account"
	errAudience       cause = "aud does not name this instance"
	errUser           cause = "userId/sub missing or malformed"
)

// unauthorized builds the contract's 401 error; the cause is only logged.
func unauthorized(reason string, c error) *patchbay.Error {
	e := &patchbay.Error{Code: patchbay.EUnauthorized, Message: UnauthorizedMessage}
	return e.Reason(reason).Wrap(c)
}

func tokenInvalid(c cause) error { return unauthorized(ReasonTokenInvalid, c) }

// HSKey is one version of an account's HS256 secret; its kid is
// "hs256-<Version>". Secret is plaintext: HSKey formats itself without it.
type HSKey struct {
	Version int
	Secret  []byte
}

// KeyID returns the kid of the key, "hs256-<Version>".
func (k HSKey) KeyID() string { return HSKeyIDPrefix + strconv.Itoa(k.Version) }

// String and GoString keep the secret out of logs and %v/%#v output.
func (k HSKey) String() string { return k.KeyID() }
func (k HSKey) GoString() string {
	return "authn.HSKey{Version: " + strconv.Itoa(k.Version) + ", Secret: [REDACTED]}"
}

// usable reports whether k may sign or verify at all.
func (k *HSKey) usable() bool { return k != nil && k.Version > 0 && len(k.Secret) >= MinHSSecretLen }

// VerifyKeys are the keys of one account that may have signed a user JWT.
type VerifyKeys struct {
	Current HSKey
	// Previous is the secret replaced by the last rotation. It verifies only
	// while the verification time is before PreviousValidUntil; a zero
	// PreviousValidUntil means its grace is over.
	Previous           *HSKey
	PreviousValidUntil time.Time
	// Public holds the account's registered public keys; nil means none.
	Public *KeySet
}

// previousInGrace returns the previous secret when it still verifies at now.
func (k *VerifyKeys) previousInGrace(now time.Time) *HSKey {
	if p := k.Previous; p.usable() && p.Version != k.Current.Version && now.Before(k.PreviousValidUntil) {
		return p
	}
	return nil
}

// Claims are the verified facts of a user JWT.
type Claims struct {
	UserID    string    // the userId claim, else sub; always a valid user ID
	Subject   string    // sub as sent ("" when absent)
	Issuer    string    // iss ("" when absent)
	ID        string    // jti ("" when absent)
	ExpiresAt time.Time // exp, UTC
	IssuedAt  time.Time // iat, UTC; zero when absent
	NotBefore time.Time // nbf, UTC; zero when absent
	Algorithm string    // the header alg
	KeyID     string    // kid of the key that verified: "hs256-<n>" or a JWKS kid
}

// VerifyOptions are the per-request inputs of verification.
type VerifyOptions struct {
	Now time.Time // zero: time.Now()
	// RequireIssuer is set when the JWT is the only authentication of the
	// request, so iss must be present to name the account.
	RequireIssuer bool
	// AccountID is the account whose keys verify; iss, when present, must
	// equal it. Leaving it empty rejects every token that carries iss.
	AccountID string
	// PublicURL is accepted in aud besides "patchbay"; a trailing slash on
	// either side is ignored.
	PublicURL string
}

// PeekIssuer returns the iss claim of token without verifying the token, so
// that a request authenticated by the JWT alone can select the account whose
// keys then verify it. The same size and segment checks as VerifyUserJWT run
// first, so garbage never reaches a store lookup; iss must be a valid account
// ID. Failures are the same 401 as VerifyUserJWT's.
func PeekIssuer(token string) (string, error) {
	var buf [decodeBufLen]byte
	t, c := splitToken(token, buf[:])
	if c != "" {
		return "", tokenInvalid(c)
	}
	it, _ := newObjectIter(t.payload)
	var iss []byte
	for {
		name, val, ok := it.next()
		if !ok {
			break
		}
		name, ok = memberName(name)
		if !ok {
			return "", tokenInvalid(errPayloadJSON)
		}
		if string(name) != "iss" {
			continue
		}
		if iss != nil {
			return "", tokenInvalid(errDuplicate)
		}
		if iss, ok = stringValue(val); !ok {
			return "", tokenInvalid(errClaimType)
		}
	}
	if it.bad {
		return "", tokenInvalid(errPayloadJSON)
	}
	if !patchbay.ValidAccountID(string(iss)) {
		return "", tokenInvalid(errIssuer)
	}
	return string(iss), nil
}

// VerifyUserJWT verifies a user JWT against one account's keys, in the order
// and with the rules of §4.4. On success it returns the claims; every failure
// is a 401 *patchbay.Error whose details.reason is token_expired when only the
// expiry failed on a correctly signed token, and token_invalid otherwise.
func VerifyUserJWT(token string, keys *VerifyKeys, opts VerifyOptions) (*Claims, error) {
	if keys == nil {
		return nil, tokenInvalid(errNoKeys)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}

	// Step 1: size, segments, encoding, JSON objects.
	var buf [decodeBufLen]byte
	t, c := splitToken(token, buf[:])
	if c != "" {
		return nil, tokenInvalid(c)
	}
	// Step 2: header.
	h, c := parseHeader(t.header)
	if c != "" {
		return nil, tokenInvalid(c)
	}
	// Steps 3 and 4: the key is chosen by kid and must be of the header's
	// algorithm; only then is the signature checked.
	kid, c := keys.verify(h, t.signingInput, t.sig, now)
	if c != "" {
		return nil, tokenInvalid(c)
	}
	// Step 5: claims.
	rc, c := parseClaims(t.payload, opts.PublicURL)
	if c != "" {
		return nil, tokenInvalid(c)
	}
	if !rc.has(claimExp) {
		return nil, tokenInvalid(errExpMissing)
	}
	nowSec := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	const leeway = float64(Leeway / time.Second)
	if nowSec > rc.exp+leeway {
		return nil, unauthorized(ReasonTokenExpired, errExpired)
	}
	if rc.has(claimNbf) && nowSec < rc.nbf-leeway {
		return nil, tokenInvalid(errNotYetValid)
	}
	if rc.has(claimIat) && rc.iat > nowSec+leeway {
		return nil, tokenInvalid(errIssuedInFuture)
	}
	start := nowSec
	if rc.has(claimIat) {
		start = rc.iat
	}
	if rc.exp-start > float64(MaxTokenLifetime/time.Second) {
		return nil, tokenInvalid(errLifetime)
	}
	if rc.has(claimIss) {
		if opts.AccountID == "" || string(rc.iss) != opts.AccountID {
			return nil, tokenInvalid(errIssuer)
		}
	} else if opts.RequireIssuer {
		return nil, tokenInvalid(errIssuer)
	}
	if rc.has(claimAud) && !rc.audOK {
		return nil, tokenInvalid(errAudience)
	}
	user := rc.sub
	if rc.has(claimUserID) {
		user = rc.userID
	}
	if !patchbay.ValidUserID(string(user)) {
		return nil, tokenInvalid(errUser)
	}

	cl := &Claims{
		UserID:    string(user),
		ExpiresAt: secondsToTime(rc.exp),
		Algorithm: h.alg.String(),
		KeyID:     kid,
	}
	if rc.has(claimSub) {
		if rc.has(claimUserID) {
			cl.Subject = string(rc.sub)
		} else {
			cl.Subject = cl.UserID
		}
	}
	if rc.has(claimIss) {
		cl.Issuer = opts.AccountID
	}
	if rc.has(claimJti) {
		cl.ID = string(rc.jti)
	}
	if rc.has(claimIat) {
		cl.IssuedAt = secondsToTime(rc.iat)
	}
	if rc.has(claimNbf) {
		cl.NotBefore = secondsToTime(rc.nbf)
	}
	return cl, nil
}

// decodeBufLen is the stack buffer for decoded segments: a typical token
// (even an RS256 one with a 4096-bit key) fits, so verification does not
// allocate for decoding.
const decodeBufLen = 2048

// token is a split and decoded JWT; the slices alias the caller's buffer.
type token struct {
	signingInput    string // header "." payload, as sent
	header, payload []byte // decoded JSON
	sig             []byte // decoded signature
}

// splitToken applies step 1 of §4.4: length, exactly three segments, each
// canonical unpadded base64url, header and payload valid JSON objects.
func splitToken(s string, buf []byte) (token, cause) {
	if len(s) > MaxTokenLen {
		return token{}, errTooLong
	}
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return token{}, errShape
	}
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return token{}, errShape
	}
	j += i + 1
	if strings.IndexByte(s[j+1:], '.') >= 0 {
		return token{}, errShape
	}
	h, p, sg := s[:i], s[i+1:j], s[j+1:]
	if len(h) == 0 || len(p) == 0 || len(sg) == 0 {
		return token{}, errEncoding
	}
	need := len(h)*3/4 + len(p)*3/4 + len(sg)*3/4
	if need > len(buf) {
		buf = make([]byte, need)
	}
	n1, ok1 := decodeBase64URL(buf, h)
	n2, ok2 := decodeBase64URL(buf[n1:], p)
	n3, ok3 := decodeBase64URL(buf[n1+n2:], sg)
	if !ok1 || !ok2 || !ok3 {
		return token{}, errEncoding
	}
	t := token{
		signingInput: s[:j],
		header:       buf[:n1:n1],
		payload:      buf[n1 : n1+n2 : n1+n2],
		sig:          buf[n1+n2 : n1+n2+n3 : n1+n2+n3],
	}
	if !isJSONObject(t.header) {
		return token{}, errHeaderJSON
	}
	if !isJSONObject(t.payload) {
		return token{}, errPayloadJSON
	}
	return t, ""
}

// header holds the JOSE header members that verification looks at. Other
// members (typ, cty, jku, jwk, x5u, ...) are ignored: keys never come from
// the token.
type header struct {
	alg    alg
	kid    []byte
	hasKID bool
}

// alg is an accepted JWS algorithm. It is an enum rather than a string
// because a string taken from the header would tie the caller's stack buffer
// to the returned Claims in escape analysis.
type alg uint8

const (
	algNone alg = iota
	algHS256
	algEdDSA
	algES256
	algRS256
)

func (a alg) String() string {
	switch a {
	case algHS256:
		return AlgHS256
	case algEdDSA:
		return AlgEdDSA
	case algES256:
		return AlgES256
	case algRS256:
		return AlgRS256
	}
	return ""
}

// parseHeader applies step 2 of §4.4.
func parseHeader(b []byte) (header, cause) {
	var h header
	var algSeen bool
	it, _ := newObjectIter(b)
	for {
		name, val, ok := it.next()
		if !ok {
			break
		}
		if name, ok = memberName(name); !ok {
			return h, errHeaderJSON
		}
		switch string(name) {
		case "crit":
			return h, errCrit
		case "alg":
			if algSeen {
				return h, errDuplicate
			}
			algSeen = true
			v, ok := stringValue(val)
			if !ok {
				return h, errAlg
			}
			switch string(v) {
			case AlgHS256:
				h.alg = algHS256
			case AlgEdDSA:
				h.alg = algEdDSA
			case AlgES256:
				h.alg = algES256
			case AlgRS256:
				h.alg = algRS256
			default:
				return h, errAlg
			}
		case "kid":
			if h.hasKID {
				return h, errDuplicate
			}
			v, ok := stringValue(val)
			if !ok {
				return h, errKID
			}
			h.kid, h.hasKID = v, true
		}
	}
	if it.bad {
		return h, errHeaderJSON
	}
	if h.alg == algNone {
		return h, errAlg
	}
	return h, ""
}

// verify applies steps 3 and 4 of §4.4 and returns the kid of the key that
// verified. The key family is fixed by the header alg before any key is
// touched, so an HS256 token never meets a public key and a public-key token
// never meets an HMAC secret.
func (k *VerifyKeys) verify(h header, input string, sig []byte, now time.Time) (string, cause) {
	if h.alg != algHS256 {
		if !h.hasKID {
			return "", errKID
		}
		pk := k.Public.lookup(h.kid)
		if pk == nil {
			return "", errKID
		}
		if pk.alg != h.alg {
			return "", errKeyAlg
		}
		if !pk.verify(input, sig) {
			return "", errSignature
		}
		return pk.kid, ""
	}

	if len(sig) != sha256.Size {
		return "", errSignature
	}
	prev := k.previousInGrace(now)
	if !h.hasKID {
		if verifyHS256(&k.Current, input, sig) {
			return k.Current.KeyID(), ""
		}
		if prev != nil && verifyHS256(prev, input, sig) {
			return prev.KeyID(), ""
		}
		return "", errSignature
	}
	v, ok := parseHSKeyID(h.kid)
	var key *HSKey
	switch {
	case !ok:
	case v == k.Current.Version:
		key = &k.Current
	case prev != nil && v == prev.Version:
		key = prev
	}
	if key == nil {
		return "", errKID
	}
	if !verifyHS256(key, input, sig) {
		return "", errSignature
	}
	return key.KeyID(), ""
}

// parseHSKeyID parses "hs256-<n>" with n a positive decimal without sign or
// leading zero, so that each version has exactly one kid.
func parseHSKeyID(kid []byte) (int, bool) {
	d, ok := bytes.CutPrefix(kid, []byte(HSKeyIDPrefix))
	if !ok || len(d) == 0 || len(d) > 9 || d[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// verifyHS256 compares the MAC in constant time.
func verifyHS256(key *HSKey, input string, sig []byte) bool {
	if !key.usable() {
		return false
	}
	var sum [sha256.Size]byte
	return hmac.Equal(macString(key.Secret, input, sum[:0]), sig)
}

// macString returns HMAC-SHA256(key, msg) appended to dst.
func macString(key []byte, msg string, dst []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(dst)
}

// Registered claims, as bits of rawClaims.seen.
const (
	claimExp = 1 << iota
	claimNbf
	claimIat
	claimIss
	claimSub
	claimUserID
	claimJti
	claimAud
)

// rawClaims are the payload members verification looks at; the byte slices
// alias the decoded payload.
type rawClaims struct {
	seen                  uint
	exp, nbf, iat         float64
	iss, sub, userID, jti []byte
	audOK                 bool // aud names this instance
}

func (r *rawClaims) has(bit uint) bool { return r.seen&bit != 0 }

// parseClaims extracts the registered claims, rejecting duplicates and
// members of the wrong JSON type. Unregistered claims are ignored.
func parseClaims(b []byte, publicURL string) (rawClaims, cause) {
	var r rawClaims
	it, _ := newObjectIter(b)
	for {
		name, val, ok := it.next()
		if !ok {
			break
		}
		if name, ok = memberName(name); !ok {
			return r, errPayloadJSON
		}
		var bit uint
		switch string(name) {
		case "exp":
			bit = claimExp
			if r.exp, ok = numberValue(val); !ok {
				return r, errExpMissing
			}
		case "nbf":
			bit = claimNbf
			r.nbf, ok = numberValue(val)
		case "iat":
			bit = claimIat
			r.iat, ok = numberValue(val)
		case "iss":
			bit = claimIss
			r.iss, ok = stringValue(val)
		case "sub":
			bit = claimSub
			r.sub, ok = stringValue(val)
		case "userId":
			bit = claimUserID
			r.userID, ok = stringValue(val)
		case "jti":
			bit = claimJti
			r.jti, ok = stringValue(val)
		case "aud":
			bit = claimAud
			r.audOK, ok = audienceMatches(val, publicURL)
		default:
			continue
		}
		if !ok {
			return r, errClaimType
		}
		if r.seen&bit != 0 {
			return r, errDuplicate
		}
		r.seen |= bit
	}
	if it.bad {
		return r, errPayloadJSON
	}
	return r, ""
}

// audienceMatches reports whether aud (a string or an array of strings)
// names this instance; ok is false when aud has another JSON type.
func audienceMatches(val []byte, publicURL string) (match, ok bool) {
	if len(val) > 0 && val[0] == '[' {
		it := arrayIter{data: val, i: 1}
		for {
			el, more := it.next()
			if !more {
				break
			}
			s, ok := stringValue(el)
			if !ok {
				return false, false
			}
			match = match || acceptedAudience(s, publicURL)
		}
		return match, !it.bad
	}
	s, ok := stringValue(val)
	if !ok {
		return false, false
	}
	return acceptedAudience(s, publicURL), true
}

func acceptedAudience(aud []byte, publicURL string) bool {
	if string(aud) == Audience {
		return true
	}
	u := strings.TrimSuffix(publicURL, "/")
	return u != "" && string(bytes.TrimSuffix(aud, []byte("/"))) == u
}

// secondsToTime converts a NumericDate. Values beyond ±10^12 s (about 31700
// years) are clamped so that the conversion cannot overflow.
func secondsToTime(f float64) time.Time {
	const limit = 1e12
	f = math.Max(-limit, math.Min(limit, f))
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC()
}

// decodeBase64URL decodes unpadded base64url s into dst, which must hold
// len(s)*3/4 bytes. It refuses characters outside the alphabet (including
// "=", CR and LF, which encoding/base64 would skip), lengths no encoder
// produces and non-zero trailing bits, so each byte string has exactly one
// accepted encoding and a token cannot be altered without breaking it.
func decodeBase64URL(dst []byte, s string) (int, bool) {
	if len(s)%4 == 1 {
		return 0, false
	}
	var acc uint32
	var bits uint
	n := 0
	for i := 0; i < len(s); i++ {
		v := base64URLValue(s[i])
		if v > 63 {
			return 0, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	if acc&(1<<bits-1) != 0 {
		return 0, false
	}
	return n, true
}

func base64URLValue(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return 0xff
}

// The JSON helpers below walk a document that json.Valid has accepted, which
// keeps them small: they only find boundaries, never judge syntax. They are
// hand-written because encoding/json matches member names case-insensitively
// and keeps the last of duplicate members, and JOSE needs exact names and
// unique members; they also spare a reflection pass per request.

// isJSONObject reports whether b is one valid JSON object in valid UTF-8.
// encoding/json would accept invalid UTF-8 and silently replace it, so that
// the bytes compared here and the strings decoded later could differ.
func isJSONObject(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && b[i] == '{' && utf8.Valid(b) && json.Valid(b)
}

// objectIter yields the members of a valid JSON object.
type objectIter struct {
	data []byte
	i    int
	bad  bool // the walk met something json.Valid should have refused
}

func newObjectIter(b []byte) (objectIter, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objectIter{bad: true}, false
	}
	return objectIter{data: b, i: i + 1}, true
}

// next returns the next member's name (a quoted JSON string, escapes intact)
// and raw value; ok is false at the end of the object or on error (it.bad).
func (it *objectIter) next() (name, value []byte, ok bool) {
	d := it.data
	i := skipSpace(d, it.i)
	if i < len(d) && d[i] == ',' {
		i = skipSpace(d, i+1)
	}
	if i >= len(d) || d[i] != '"' {
		it.bad = it.bad || i >= len(d) || d[i] != '}'
		return nil, nil, false
	}
	end := stringEnd(d, i)
	if end < 0 {
		it.bad = true
		return nil, nil, false
	}
	name = d[i:end]
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		it.bad = true
		return nil, nil, false
	}
	i = skipSpace(d, i+1)
	vend := valueEnd(d, i)
	if vend < 0 {
		it.bad = true
		return nil, nil, false
	}
	it.i = vend
	return name, d[i:vend], true
}

// arrayIter yields the elements of a valid JSON array; i starts after "[".
type arrayIter struct {
	data []byte
	i    int
	bad  bool
}

func (it *arrayIter) next() ([]byte, bool) {
	d := it.data
	i := skipSpace(d, it.i)
	if i < len(d) && d[i] == ',' {
		i = skipSpace(d, i+1)
	}
	if i >= len(d) || d[i] == ']' {
		it.bad = it.bad || i >= len(d)
		return nil, false
	}
	end := valueEnd(d, i)
	if end < 0 {
		it.bad = true
		return nil, false
	}
	it.i = end
	return d[i:end], true
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string that
// starts at d[i], or -1.
func stringEnd(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the value that starts at d[i], or -1.
func valueEnd(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				e := stringEnd(d, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(d) {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// memberName returns the unescaped content of a quoted member name. Names
// without a backslash, the normal case, are returned without copying.
func memberName(quoted []byte) ([]byte, bool) {
	return stringValue(quoted)
}

// stringValue returns the content of a JSON string value, unescaped; ok is
// false when v is not a string.
func stringValue(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	// Escapes are rare; the copy keeps v (which aliases a stack buffer) from
	// escaping into encoding/json.
	var s string
	if json.Unmarshal(bytes.Clone(v), &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// numberValue returns a JSON number; ok is false for other types and for
// numbers outside float64.
func numberValue(v []byte) (float64, bool) {
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return 0, false
	}
	if len(v) <= 15 {
		var n int64
		digits := true
		for _, c := range v {
			if c < '0' || c > '9' {
				digits = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if digits {
			return float64(n), true
		}
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
