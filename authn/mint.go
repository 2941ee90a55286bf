package authn

import (
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ids"
)

// DefaultTokenTTL is the lifetime of a minted token when the request names none.
const DefaultTokenTTL = time.Hour

// Mint issues a user JWT for userID of accountID, signed with key, as
// POST /api/users/{userId}/token does (§4.4): header
// {"alg":"HS256","kid":"hs256-<n>","typ":"JWT"} and claims userId, sub, iss,
// aud, iat, nbf, exp and jti, in that order. iat and nbf are now truncated to
// the second, exp is iat + ttl (ttl truncated to whole seconds, 1 s to 30
// days) and expiresAt is exp in UTC.
//
// An invalid userID or ttl is an INVALID_REQUEST error naming "userId" or
// "expiresInSeconds"; an invalid accountID or key is a wiring bug and a plain
// error.
func Mint(key HSKey, accountID, userID string, now time.Time, ttl time.Duration) (token string, expiresAt time.Time, err error) {
	if !patchbay.ValidUserID(userID) {
		return "", time.Time{}, patchbay.Errorf(patchbay.EInvalid,
			"userId must be 1 to 128 characters of A-Z, a-z, 0-9 and ._@:|+=-").Field("userId")
	}
	secs := int64(ttl / time.Second)
	if secs < 1 || secs > int64(MaxTokenLifetime/time.Second) {
		return "", time.Time{}, patchbay.Errorf(patchbay.EInvalid,
			"expiresInSeconds must be an integer from 1 to 2592000").Field("expiresInSeconds")
	}
	if !patchbay.ValidAccountID(accountID) {
		return "", time.Time{}, errors.New("authn: mint: invalid account ID")
	}
	if !key.usable() {
		return "", time.Time{}, errors.New("authn: mint: HS256 key has no version or a secret shorter than 32 bytes")
	}

	iat := now.Unix()
	exp := iat + secs
	// The IDs were validated above, and neither format has a character that
	// JSON escapes, so plain concatenation yields the exact bytes of §4.4.
	h := make([]byte, 0, 48)
	h = append(h, `{"alg":"HS256","kid":"`...)
	h = append(h, HSKeyIDPrefix...)
	h = strconv.AppendInt(h, int64(key.Version), 10)
	h = append(h, `","typ":"JWT"}`...)

	p := make([]byte, 0, 160+2*len(userID)+len(accountID))
	p = append(p, `{"userId":"`...)
	p = append(p, userID...)
	p = append(p, `","sub":"`...)
	p = append(p, userID...)
	p = append(p, `","iss":"`...)
	p = append(p, accountID...)
	p = append(p, `","aud":"`+Audience+`","iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"nbf":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp, 10)
	p = append(p, `,"jti":"`...)
	p = append(p, ids.ULID(now)...)
	p = append(p, `"}`...)

	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(h))+enc.EncodedLen(len(p))+2+enc.EncodedLen(32))
	out = enc.AppendEncode(out, h)
	out = append(out, '.')
	out = enc.AppendEncode(out, p)
	var sum [32]byte
	mac := macString(key.Secret, string(out), sum[:0])
	out = append(out, '.')
	out = enc.AppendEncode(out, mac)
	return string(out), time.Unix(exp, 0).UTC(), nil
}
