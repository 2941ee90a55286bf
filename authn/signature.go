package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// Request signing (§4.6).
const (
	HeaderTimestamp = "X-Alloy-Timestamp"
	HeaderNonce     = "X-Alloy-Nonce"
	HeaderSignature = "X-Alloy-Signature"

	// SignatureWindow is the largest accepted |now - timestamp|.
	SignatureWindow = 300 * time.Second
	// NonceTTL is how long a (keyID, nonce) pair stays used. It is twice the
	// window, so a nonce is remembered for as long as its timestamp could
	// still be accepted on any instance whose clock is within the window.
	NonceTTL = 600 * time.Second

	minNonceLen = 16
	maxNonceLen = 64
	sigPrefix   = "v1="
)

// Values of details.reason on signature failures.
const (
	ReasonSignatureMissing     = "signature_missing"
	ReasonSignatureInvalid     = "signature_invalid"
	ReasonTimestampOutOfWindow = "timestamp_out_of_window"
	ReasonNonceReused          = "nonce_reused"
)

const (
	errSigMissing      cause = "x-alloy-timestamp, x-alloy-nonce or x-alloy-signature missing"
	errSigRepeated     cause = "signature header repeated"
	errSigTimestamp    cause = "x-alloy-timestamp is not unsigned decimal seconds"
	errSigNonce        cause = "x-alloy-nonce is not 16 to 64 characters of [A-Za-z0-9_-]"
	errSigFormat       cause = "x-alloy-signature is not v1= and 64 lowercase hex characters"
	errSigMismatch     cause = "signature mismatch"
	errSigWindow       cause = "timestamp outside the 300 s window"
	errSigNonceReused  cause = "nonce already used"
	errSignedHeaderDup cause = "signed header appears more than once"
)

// Canonical returns the canonical string of §4.6 that a signature covers:
//
//	"v1" \n METHOD \n REQUEST_TARGET \n TIMESTAMP \n NONCE \n SIGNED_HEADERS \n hex(sha256(BODY))
//
// method is upper-cased; requestTarget, timestamp and nonce are used
// verbatim (see RequestTarget). A signed header that appears more than once
// makes the request ambiguous and is a 401 signature_invalid error.
func Canonical(method, requestTarget, timestamp, nonce string, headers http.Header, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	var b strings.Builder
	b.Grow(len(method) + len(requestTarget) + len(timestamp) + len(nonce) + 160 + 2*sha256.Size)
	b.WriteString("v1\n")
	for i := 0; i < len(method); i++ {
		c := method[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteByte('\n')
	b.WriteString(requestTarget)
	b.WriteByte('\n')
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	// The signed headers, in the contract's order. The map keys are the
	// canonical MIME forms that net/http stores.
	ok := signedHeader(&b, headers, "content-type", "Content-Type") &&
		signedHeader(&b, headers, ";x-alloy-userid", "X-Alloy-Userid") &&
		signedHeader(&b, headers, ";x-alloy-user-token", "X-Alloy-User-Token") &&
		signedHeader(&b, headers, ";x-credential-id", "X-Credential-Id") &&
		signedHeader(&b, headers, ";x-mcp-server-id", "X-Mcp-Server-Id") &&
		signedHeader(&b, headers, ";x-redirect-uri", "X-Redirect-Uri")
	if !ok {
		return "", unauthorized(ReasonSignatureInvalid, errSignedHeaderDup)
	}
	b.WriteByte('\n')
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	b.Write(hx[:])
	return b.String(), nil
}

// signedHeader writes "name:value" (label carries the ";" separator) and
// reports false when the header has more than one value.
func signedHeader(b *strings.Builder, h http.Header, label, key string) bool {
	vals := h[key]
	if len(vals) > 1 {
		return false
	}
	b.WriteString(label)
	b.WriteByte(':')
	if len(vals) == 1 {
		// HTTP optional whitespace is space and tab (RFC 9110 §5.6.3).
		b.WriteString(strings.Trim(vals[0], " \t"))
	}
	return true
}

// RequestTarget returns REQUEST_TARGET for a server request: the path as sent
// on the wire (r.RequestURI, still percent-encoded), plus "?" and the query
// when the query is non-empty. For requests without RequestURI (built in
// code rather than read from the wire) it falls back to r.URL.
func RequestTarget(r *http.Request) string {
	path, query := r.RequestURI, ""
	if path == "" || path[0] != '/' {
		// Absolute-form or client-side request: no raw origin-form target.
		path, query = r.URL.EscapedPath(), r.URL.RawQuery
	} else if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if query == "" {
		return path
	}
	return path + "?" + query
}

// ParseSignatureHeaders reads the three signing headers with the exact
// formats of §4.6: the timestamp as unsigned decimal seconds, the nonce as 16
// to 64 characters of [A-Za-z0-9_-] and the signature as "v1=" and 64
// lowercase hex characters, returned decoded (32 bytes). A missing or empty
// header is a 401 signature_missing; a repeated or malformed one is a 401
// signature_invalid.
func ParseSignatureHeaders(h http.Header) (ts int64, nonce string, sig []byte, err error) {
	tsv, c1 := singleHeader(h, HeaderTimestamp)
	nv, c2 := singleHeader(h, HeaderNonce)
	sv, c3 := singleHeader(h, HeaderSignature)
	for _, c := range []cause{c1, c2, c3} {
		if c == errSigRepeated {
			return 0, "", nil, unauthorized(ReasonSignatureInvalid, c)
		}
	}
	if c1 != "" || c2 != "" || c3 != "" {
		return 0, "", nil, unauthorized(ReasonSignatureMissing, errSigMissing)
	}
	ts, ok := parseTimestamp(tsv)
	if !ok {
		return 0, "", nil, unauthorized(ReasonSignatureInvalid, errSigTimestamp)
	}
	if !validNonce(nv) {
		return 0, "", nil, unauthorized(ReasonSignatureInvalid, errSigNonce)
	}
	if sig, ok = parseSignature(sv); !ok {
		return 0, "", nil, unauthorized(ReasonSignatureInvalid, errSigFormat)
	}
	return ts, nv, sig, nil
}

func singleHeader(h http.Header, key string) (string, cause) {
	vals := h[key]
	switch {
	case len(vals) > 1:
		return "", errSigRepeated
	case len(vals) == 0 || vals[0] == "":
		return "", errSigMissing
	}
	return vals[0], ""
}

// parseTimestamp accepts 1 to 18 decimal digits: no sign, fraction or
// space, and never an overflow.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func validNonce(s string) bool {
	if len(s) < minNonceLen || len(s) > maxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseSignature decodes "v1=" + 64 lowercase hex characters.
func parseSignature(s string) ([]byte, bool) {
	if len(s) != len(sigPrefix)+2*sha256.Size || s[:len(sigPrefix)] != sigPrefix {
		return nil, false
	}
	hx := s[len(sigPrefix):]
	for i := 0; i < len(hx); i++ {
		if c := hx[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, false
		}
	}
	sig, err := hex.DecodeString(hx)
	return sig, err == nil
}

// VerifySignature reports whether sig is HMAC-SHA256 of canonical under the
// full signing secret (UTF-8 bytes, "pbs_" included), compared in constant
// time.
func VerifySignature(secret string, canonical string, sig []byte) bool {
	if secret == "" || len(sig) != sha256.Size {
		return false
	}
	var sum [sha256.Size]byte
	return hmac.Equal(macString([]byte(secret), canonical, sum[:0]), sig)
}

// Sign returns the x-alloy-signature value ("v1=" + hex) for canonical. It
// exists for clients, tests and the CLI; the server only verifies.
func Sign(secret string, canonical string) string {
	return sigPrefix + hex.EncodeToString(macString([]byte(secret), canonical, nil))
}

// CheckSignedRequest verifies the signature of a request authenticated by
// API key keyID whose signing secret is secret (§4.6). body is the raw body,
// already read within the size limit. In order: the three headers and their
// formats, |now - timestamp| <= 300 s, the canonical string, the HMAC, and
// last the nonce, so that only correctly signed requests consume one.
//
// Failures are 401 *patchbay.Error values with details.reason
// signature_missing, signature_invalid, timestamp_out_of_window or
// nonce_reused; an error of the nonce store is returned wrapped, as is.
func CheckSignedRequest(ctx context.Context, r *http.Request, body []byte, keyID string, secret patchbay.Secret, nonces NonceStore, now time.Time) error {
	if nonces == nil {
		return errors.New("authn: CheckSignedRequest without a nonce store")
	}
	ts, nonce, sig, err := ParseSignatureHeaders(r.Header)
	if err != nil {
		return err
	}
	if d := now.Unix() - ts; d > int64(SignatureWindow/time.Second) || d < -int64(SignatureWindow/time.Second) {
		return unauthorized(ReasonTimestampOutOfWindow, errSigWindow)
	}
	// The timestamp is signed verbatim, leading zeros and all.
	canonical, err := Canonical(r.Method, RequestTarget(r), r.Header.Get(HeaderTimestamp), nonce, r.Header, body)
	if err != nil {
		return err
	}
	if !VerifySignature(secret.Reveal(), canonical, sig) {
		return unauthorized(ReasonSignatureInvalid, errSigMismatch)
	}
	fresh, err := nonces.UseNonce(ctx, keyID, nonce, NonceTTL)
	if err != nil {
		return fmt.Errorf("authn: recording signature nonce: %w", err)
	}
	if !fresh {
		return unauthorized(ReasonNonceReused, errSigNonceReused)
	}
	return nil
}

// FormatTimestamp returns the x-alloy-timestamp value for t.
func FormatTimestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
