package authn

import (
	"crypto/sha256"
	"strings"

	"github.com/patchbay-mcp/patchbay"
)

// API key shapes of §2: "pb_" + 40 base62 characters; keys given to the
// bootstrap command may be longer, with at least 32 base62 characters.
const (
	APIKeyPrefix          = "pb_"
	apiKeyRandomLen       = 40
	bootstrapKeyMinRandom = 32
)

// HashAPIKey returns the SHA-256 of the full key string, prefix included: the
// only form in which API keys are stored and looked up (§4.2 rule 2).
func HashAPIKey(key string) [32]byte {
	return sha256.Sum256([]byte(key))
}

// ValidAPIKeyFormat reports whether key has the shape of an API key: "pb_"
// followed by exactly 40 base62 characters, or, when bootstrap is true, by at
// least 32. Checking the shape first spares a hash and a lookup for garbage.
func ValidAPIKeyFormat(key string, bootstrap bool) bool {
	if !bootstrap {
		return patchbay.ValidBase62(key, APIKeyPrefix, apiKeyRandomLen)
	}
	n := len(key) - len(APIKeyPrefix)
	return n >= bootstrapKeyMinRandom && patchbay.ValidBase62(key, APIKeyPrefix, n)
}

// ParseBearer extracts the credential from an Authorization header value
// (§4.2 rule 1): the scheme "Bearer" in any letter case, exactly one space,
// then a non-empty value without spaces or tabs. ok is false for anything
// else, which the caller answers with 401.
func ParseBearer(header string) (value string, ok bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || header[len(scheme)-1] != ' ' ||
		!strings.EqualFold(header[:len(scheme)-1], scheme[:len(scheme)-1]) {
		return "", false
	}
	value = header[len(scheme):]
	if strings.ContainsAny(value, " \t") {
		return "", false
	}
	return value, true
}

// LooksLikeJWT reports whether a Bearer value is to be treated as a user JWT:
// it has exactly two "." separators (§4.2 rule 1). It says nothing about
// validity.
func LooksLikeJWT(v string) bool {
	return strings.Count(v, ".") == 2
}
