package ids

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"time"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Base62 returns n random base62 characters read from r (crypto/rand when nil).
// Rejection sampling keeps every character uniformly likely.
func Base62(r io.Reader, n int) string {
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, n)
	buf := make([]byte, n+n/2+8)
	for i := 0; i < n; {
		if _, err := io.ReadFull(r, buf); err != nil {
			panic("ids: random source failed: " + err.Error())
		}
		for _, b := range buf {
			if b >= 248 { // 248 = 62*4: larger values would bias the modulo
				continue
			}
			out[i] = base62[b%62]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}

// Hex returns n random lowercase hex characters.
func Hex(r io.Reader, n int) string {
	b := Bytes(r, (n+1)/2)
	return hex.EncodeToString(b)[:n]
}

// Bytes returns n random bytes.
func Bytes(r io.Reader, n int) []byte {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		panic("ids: random source failed: " + err.Error())
	}
	return b
}

// Token43 returns 32 random bytes as unpadded base64url (43 characters), the
// form of CSRF tokens, OAuth state and JWT secrets shown to integrators.
func Token43(r io.Reader) string {
	return base64.RawURLEncoding.EncodeToString(Bytes(r, 32))
}

// Prefixed identifiers of §2.
func APIKey() string        { return "pb_" + Base62(nil, 40) }
func KeyID() string         { return "key_" + Base62(nil, 16) }
func SigningSecret() string { return "pbs_" + Base62(nil, 40) }
func ServerToken() string   { return "mcp_token_" + Base62(nil, 40) }
func CredentialID() string  { return "cred_" + Base62(nil, 20) }
func FlowID() string        { return Base62(nil, 32) }

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ULID returns a 26-character ULID for time t: 48 bits of milliseconds and 80
// random bits, Crockford base32.
func ULID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	copy(b[6:], Bytes(nil, 10))
	var out [26]byte
	// 128 bits -> 26 base32 digits; the first digit carries the top 3 bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// RequestID returns req_ + ULID.
func RequestID() string { return "req_" + ULID(time.Now()) }

// EventID returns evt_ + ULID for time t.
func EventID(t time.Time) string { return "evt_" + ULID(t) }
