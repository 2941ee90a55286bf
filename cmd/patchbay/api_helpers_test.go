package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/ids"
)

// Helpers shared by the api_*_test.go acceptance tests. They only talk to
// the program over HTTP, except where a test needs a state the API cannot
// produce (another account, an already expired key), which it writes with
// the same store functions the CLI uses.

// bearer returns the header pair that authenticates with key.
func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }

// hdrs concatenates header pair lists.
func hdrs(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// newAccount creates account id (as `patchbay accounts create` does) and
// returns the key of its admin user "admin".
func (ts *testServer) newAccount(id string) string {
	ts.t.Helper()
	key, err := createAccount(context.Background(), ts.app.db, ts.app.vault, id, "Account "+id, "admin", "")
	if err != nil {
		ts.t.Fatal(err)
	}
	return key
}

// apiKey is a key created through POST /api/keys.
type apiKey struct {
	ID, Key, Secret string
	JSON            map[string]any
}

// createKey creates a key with the given members using the admin key admin
// ("" = the bootstrap key).
func (ts *testServer) createKey(admin string, body map[string]any) apiKey {
	ts.t.Helper()
	if admin == "" {
		admin = ts.AdminKey
	}
	r := ts.call("POST", "/api/keys", body, bearer(admin)...).want(ts.t, http.StatusCreated)
	return apiKey{ID: r.str("keyId"), Key: r.str("apiKey"), Secret: r.str("signingSecret"), JSON: r.JSON}
}

// userKey creates a user-role key for user.
func (ts *testServer) userKey(user string) string {
	ts.t.Helper()
	return ts.createKey("", map[string]any{"name": "key of " + user, "userId": user, "role": "user"}).Key
}

// expiredKey stores a key of the default account that expired a minute ago.
func (ts *testServer) expiredKey(role string) string {
	ts.t.Helper()
	key := ids.APIKey()
	h := authn.HashAPIKey(key)
	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	k := &patchbay.APIKey{ID: ids.KeyID(), AccountID: "default", UserID: "admin", Name: "expired", Role: role, Prefix: key[:7],
		Hash: h[:], CreatedAt: past.Add(-time.Hour), ExpiresAt: &past}
	if err := ts.app.db.CreateAPIKey(context.Background(), k); err != nil {
		ts.t.Fatal(err)
	}
	return key
}

// createServer creates a server with the given headers (default: the
// admin key acting as its own user) and returns the response.
func (ts *testServer) createServer(name string, headers ...string) *resp {
	ts.t.Helper()
	return ts.call("POST", "/api/servers", map[string]any{"name": name}, headers...).want(ts.t, http.StatusCreated)
}

// mint mints a user JWT through the API.
func (ts *testServer) mint(user string, body any) string {
	ts.t.Helper()
	return ts.call("POST", "/api/users/"+user+"/token", body).want(ts.t, http.StatusOK).str("token")
}

// rotate rotates the default account's JWT secret and returns the new
// secret's kid and key bytes.
func (ts *testServer) rotate(grace int) (string, []byte, *resp) {
	ts.t.Helper()
	r := ts.call("POST", "/api/account/jwt-secret/rotate", map[string]any{"gracePeriodSeconds": grace}).want(ts.t, http.StatusOK)
	secret, err := base64.RawURLEncoding.DecodeString(r.str("secret"))
	if err != nil || len(secret) != 32 {
		ts.t.Fatalf("secret %q: %v", r.str("secret"), err)
	}
	return r.str("kid"), secret, r
}

var b64 = base64.RawURLEncoding

// hs256 builds a JWT from a raw header and payload, signed with secret.
func hs256(secret []byte, header, payload string) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64.EncodeToString(m.Sum(nil))
}

// claims renders a JWT payload; members with a nil value are left out.
func claims(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// jwtParts decodes the header and payload of a JWT.
func jwtParts(t *testing.T, tok string) (header, payload string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not three segments", tok)
	}
	h, err1 := b64.DecodeString(parts[0])
	p, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("token segments are not base64url: %v %v", err1, err2)
	}
	return string(h), string(p)
}

// nonce returns a fresh x-alloy-nonce.
func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("n%x", b)
}

// signed is a request signed per §4.6, ready to send any number of times.
type signed struct {
	Method, Target string
	Body           string
	Header         http.Header
}

// sign builds a signed request for key/secret. headers are extra name/value
// pairs (covered by the signature when they are signed headers). The
// timestamp is now+skew.
func sign(t *testing.T, key, secret, method, target, body string, skew time.Duration, headers ...string) *signed {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+key)
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	ts := strconv.FormatInt(time.Now().Add(skew).Unix(), 10)
	n := nonce()
	h.Set("x-alloy-timestamp", ts)
	h.Set("x-alloy-nonce", n)
	h.Set("x-alloy-signature", signV1(secret, canonicalV1(method, target, ts, n, h, []byte(body))))
	return &signed{Method: method, Target: target, Body: body, Header: h}
}

// canonicalV1 is the §4.6 canonical string, written from the contract
// independently of authn.Canonical so that the tests do not check the
// implementation against itself.
func canonicalV1(method, target, ts, nonce string, h http.Header, body []byte) string {
	var signed []string
	for _, name := range []string{"content-type", "x-alloy-userid", "x-alloy-user-token", "x-credential-id", "x-mcp-server-id", "x-redirect-uri"} {
		signed = append(signed, name+":"+strings.TrimSpace(h.Get(name)))
	}
	sum := sha256.Sum256(body)
	return strings.Join([]string{"v1", strings.ToUpper(method), target, ts, nonce, strings.Join(signed, ";"), hex.EncodeToString(sum[:])}, "\n")
}

// signV1 is the x-alloy-signature value for a canonical string.
func signV1(secret, canonical string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(canonical))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// send sends a signed request (target may differ from the signed one when
// a test tampers with it).
func (ts *testServer) send(s *signed, target, body string) *resp {
	ts.t.Helper()
	args := []string{"Authorization", ""}
	for k, vs := range s.Header {
		args = append(args, k, vs[0])
	}
	var b any
	if body != "" {
		b = body
	}
	return ts.call(s.Method, target, b, args...)
}

// wantErr checks an error envelope: status, code, and details members
// (requestId is always checked for presence).
func (r *resp) wantErr(t *testing.T, status int, code string, details ...any) *resp {
	t.Helper()
	r.want(t, status, code)
	if id, _ := r.detail("requestId").(string); id == "" || id != r.Header.Get("X-Request-Id") {
		t.Fatalf("details.requestId %q, X-Request-Id %q; body %s", id, r.Header.Get("X-Request-Id"), r.Body)
	}
	if m, _ := r.JSON["error"].(map[string]any)["message"].(string); m == "" {
		t.Fatalf("empty message; body %s", r.Body)
	}
	for i := 0; i+1 < len(details); i += 2 {
		name := details[i].(string)
		got := r.detail(name)
		want := details[i+1]
		if n, ok := want.(int); ok {
			want = float64(n)
		}
		if got != want {
			t.Fatalf("details.%s = %v, want %v; body %s", name, got, want, r.Body)
		}
	}
	return r
}

// list returns the array member name.
func (r *resp) list(name string) []map[string]any {
	arr, _ := r.JSON[name].([]any)
	out := make([]map[string]any, len(arr))
	for i, v := range arr {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// num returns a top-level number member.
func (r *resp) num(name string) float64 {
	n, _ := r.JSON[name].(float64)
	return n
}

var (
	reServerID  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}$`)
	reToken     = regexp.MustCompile(`^mcp_token_[0-9A-Za-z]{40}$`)
	reKeyID     = regexp.MustCompile(`^key_[0-9A-Za-z]{16}$`)
	reAPIKey    = regexp.MustCompile(`^pb_[0-9A-Za-z]{40}$`)
	reSecret    = regexp.MustCompile(`^pbs_[0-9A-Za-z]{40}$`)
	reTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	reEventTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	reEventID   = regexp.MustCompile(`^evt_[0-9A-HJKMNP-TV-Z]{26}$`)
	reRequestID = regexp.MustCompile(`^req_[0-9A-HJKMNP-TV-Z]{26}$`)
	reULID      = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
)

// parseTime parses a contract timestamp.
func parseTime(t *testing.T, s any) time.Time {
	t.Helper()
	str, _ := s.(string)
	tm, err := time.Parse(time.RFC3339, str)
	if err != nil {
		t.Fatalf("timestamp %v: %v", s, err)
	}
	return tm
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
