package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// §4.4: user JWTs, the mint endpoint, and verification through the API.

func TestAPIMintToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	before := time.Now().Unix()
	r := ts.call("POST", "/api/users/cust-42/token", nil).want(t, http.StatusOK)
	after := time.Now().Unix()
	tok := r.str("token")
	if len(r.JSON) != 2 {
		t.Fatalf("response members: %s", r.Body)
	}
	h, p := jwtParts(t, tok)
	if h != `{"alg":"HS256","kid":"hs256-1","typ":"JWT"}` {
		t.Fatalf("header %s", h)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(p), &c); err != nil {
		t.Fatal(err)
	}
	iat := int64(c["iat"].(float64))
	if iat < before || iat > after {
		t.Fatalf("iat %d not in [%d, %d]", iat, before, after)
	}
	jti, _ := c["jti"].(string)
	if !reULID.MatchString(jti) {
		t.Fatalf("jti %q is not a ULID", jti)
	}
	want := map[string]any{"userId": "cust-42", "sub": "cust-42", "iss": "default", "aud": "patchbay",
		"iat": float64(iat), "nbf": float64(iat), "exp": float64(iat + 3600), "jti": jti}
	if d := cmp.Diff(want, c); d != "" {
		t.Fatalf("claims (-want +got):\n%s", d)
	}
	// The claims come in the documented order.
	order := []string{`"userId"`, `"sub"`, `"iss"`, `"aud"`, `"iat"`, `"nbf"`, `"exp"`, `"jti"`}
	last := -1
	for _, k := range order {
		i := strings.Index(p, k)
		if i < last {
			t.Fatalf("claim %s out of order in %s", k, p)
		}
		last = i
	}
	if exp := parseTime(t, r.JSON["expiresAt"]); exp.Unix() != iat+3600 || !reTimestamp.MatchString(r.str("expiresAt")) {
		t.Fatalf("expiresAt %v, exp %d", r.JSON["expiresAt"], iat+3600)
	}

	// Lifetimes at both bounds; {} is the default.
	for _, tt := range []struct {
		body string
		ttl  int64
	}{{`{}`, 3600}, {`{"expiresInSeconds":1}`, 1}, {`{"expiresInSeconds":2592000}`, 2592000}} {
		r := ts.call("POST", "/api/users/u1/token", tt.body).want(t, http.StatusOK)
		_, p := jwtParts(t, r.str("token"))
		var c struct{ Iat, Exp int64 }
		_ = json.Unmarshal([]byte(p), &c)
		if c.Exp-c.Iat != tt.ttl {
			t.Fatalf("%s: lifetime %d", tt.body, c.Exp-c.Iat)
		}
	}
	for _, tt := range []struct{ name, path, body, field string }{
		{"Zero", "/api/users/u1/token", `{"expiresInSeconds":0}`, "expiresInSeconds"},
		{"OverMax", "/api/users/u1/token", `{"expiresInSeconds":2592001}`, "expiresInSeconds"},
		{"Fraction", "/api/users/u1/token", `{"expiresInSeconds":1.5}`, "expiresInSeconds"},
		{"String", "/api/users/u1/token", `{"expiresInSeconds":"60"}`, "expiresInSeconds"},
		{"Null", "/api/users/u1/token", `{"expiresInSeconds":null}`, "expiresInSeconds"},
		{"Unknown", "/api/users/u1/token", `{"ttl":60}`, "ttl"},
		{"InvalidUserID", "/api/users/bad%20user/token", ``, "userId"},
		{"InvalidUserIDChars", "/api/users/a%2Fb/token", ``, "userId"},
		{"UserIDTooLong", "/api/users/" + strings.Repeat("u", 129) + "/token", ``, "userId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := ts.call("POST", tt.path, body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
			if r.detail("field") != tt.field {
				t.Fatalf("details.field %v, want %q", r.detail("field"), tt.field)
			}
		})
	}
	// A user ID of 128 characters and every allowed punctuation mark is fine.
	ts.call("POST", "/api/users/"+strings.Repeat("u", 128)+"/token", nil).want(t, http.StatusOK)
	ts.call("POST", "/api/users/a.b_c@d:e|f+g=h-i/token", nil).want(t, http.StatusOK)
}

func TestAPIUserJWTUse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.mint("cust-42", nil)
	ts.createServer("Admin's own")
	// Both ways of presenting a JWT alone act as its user with role user.
	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"Bearer", bearer(tok)},
		{"UserTokenHeader", []string{"Authorization", "", "x-alloy-user-token", tok}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := ts.call("POST", "/api/servers", map[string]any{"name": "JWT " + tt.name}, tt.headers...).want(t, http.StatusCreated).str("serverId")
			ts.call("GET", "/api/servers/"+id, nil, "x-alloy-userid", "cust-42").want(t, http.StatusOK)
			ts.call("GET", "/api/servers/"+id, nil, tt.headers...).want(t, http.StatusOK)
			ts.call("GET", "/api/keys", nil, tt.headers...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
			// x-alloy-userid naming another user is ignored or refused, never obeyed.
			r := ts.call("GET", "/api/servers", nil, hdrs(tt.headers, []string{"x-alloy-userid", "admin"})...)
			if r.Status != http.StatusOK {
				r.wantErr(t, http.StatusForbidden, "FORBIDDEN")
			}
			for _, s := range r.list("servers") {
				if !strings.HasPrefix(s["name"].(string), "JWT ") {
					t.Fatalf("JWT user sees %v", s["name"])
				}
			}
		})
	}
	// Changes made with a JWT alone are audited with actor kind user_jwt.
	for _, e := range ts.call("GET", "/api/audit?type=server.created", nil).want(t, http.StatusOK).list("events") {
		if d := cmp.Diff(map[string]any{"kind": "user_jwt", "keyId": nil, "userId": "cust-42"}, e["actor"]); d != "" || e["userId"] != "cust-42" {
			if e["userId"] == "cust-42" {
				t.Fatalf("actor of a JWT-made change (-want +got):\n%s", d)
			}
		}
	}
	// With an API key, x-alloy-user-token chooses the user and the role stays
	// the key's: admin endpoints still work, x-alloy-userid is ignored.
	r := ts.call("GET", "/api/servers", nil, "x-alloy-user-token", tok, "x-alloy-userid", "someone").want(t, http.StatusOK)
	if r.num("count") != 2 {
		t.Fatalf("admin key + JWT of cust-42 lists %v servers", r.num("count"))
	}
	ts.call("GET", "/api/keys", nil, "x-alloy-user-token", tok).want(t, http.StatusOK)
	user := ts.userKey("bob")
	r = ts.call("GET", "/api/servers", nil, hdrs(bearer(user), []string{"x-alloy-user-token", tok})...).want(t, http.StatusOK)
	if r.num("count") != 2 {
		t.Fatalf("user key + JWT of cust-42 lists %v servers", r.num("count"))
	}
	ts.call("GET", "/api/keys", nil, hdrs(bearer(user), []string{"x-alloy-user-token", tok})...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
	// A JWT beside a key must still be valid.
	ts.call("GET", "/api/servers", nil, "x-alloy-user-token", "garbage").wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	// A JWT of another account beside this account's key is refused.
	ts.newAccount("other")
	ts.call("GET", "/api/servers", nil, "x-alloy-user-token", tok, "Authorization", "Bearer "+ts.newAccount("third")).
		wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

// TestAPIJWTNegative feeds forged, expired and malformed JWTs to the API,
// alone (Bearer and x-alloy-user-token) and beside an API key.
func TestAPIJWTNegative(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	kid, secret, _ := ts.rotate(604800)
	now := time.Now().Unix()
	hdr := `{"alg":"HS256","kid":"` + kid + `","typ":"JWT"}`
	good := func(kv ...any) string {
		base := []any{"userId", "cust-42", "iss", "default", "aud", "patchbay", "iat", now, "exp", now + 600}
		// Later pairs override earlier ones.
		m := map[string]any{}
		var order []string
		for _, l := range [][]any{base, kv} {
			for i := 0; i+1 < len(l); i += 2 {
				k := l[i].(string)
				if _, ok := m[k]; !ok {
					order = append(order, k)
				}
				m[k] = l[i+1]
			}
		}
		var flat []any
		for _, k := range order {
			flat = append(flat, k, m[k])
		}
		return claims(flat...)
	}

	// An RSA key registered for RS256, for the algorithm-confusion case.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
		"n": b64.EncodeToString(rk.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(rk.E)).Bytes())}
	ts.call("PUT", "/api/account", map[string]any{"jwtPublicKeys": map[string]any{"keys": []any{jwk}}}).want(t, http.StatusOK)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(jwk)
	rs256 := func(header, payload string) string {
		in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		sum := sha256.Sum256([]byte(in))
		sig, err := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64.EncodeToString(sig)
	}
	wrong := make([]byte, 32)
	_, _ = rand.Read(wrong)

	// Positive controls: these must pass, or the negatives prove nothing.
	valid := map[string]string{
		"HS256WithKid":    hs256(secret, hdr, good()),
		"HS256WithoutKid": hs256(secret, `{"alg":"HS256","typ":"JWT"}`, good()),
		"RS256":           rs256(`{"alg":"RS256","kid":"rsa-1"}`, good()),
		"SubOnly":         hs256(secret, hdr, good("userId", nil, "sub", "cust-42")),
		"AudArray":        hs256(secret, hdr, good("aud", []string{"x", "patchbay"})),
		"AudPublicURL":    hs256(secret, hdr, good("aud", ts.cfg.PublicURL)),
		"NoAud":           hs256(secret, hdr, good("aud", nil)),
		"ExpWithinLeeway": hs256(secret, hdr, good("exp", now-30)),
		"NbfWithinLeeway": hs256(secret, hdr, good("nbf", now+30)),
		"MaxLifetime":     hs256(secret, hdr, good("exp", now+2592000)),
	}
	for name, tok := range valid {
		t.Run("Valid/"+name, func(t *testing.T) {
			ts.call("GET", "/api/servers", nil, bearer(tok)...).want(t, http.StatusOK)
		})
	}

	none := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(good())) + "."
	hsWithPub := func(key []byte) string {
		return hs256(key, `{"alg":"HS256","kid":"rsa-1"}`, good())
	}
	big := hs256(secret, hdr, good("pad", strings.Repeat("x", 8200)))
	tests := []struct {
		name   string
		tok    string
		reason string
		alone  bool // only meaningful without an API key (iss rules)
	}{
		{name: "AlgNone", tok: none},
		{name: "AlgNoneSigned", tok: hs256(secret, `{"alg":"none"}`, good())},
		{name: "AlgLowerCase", tok: hs256(secret, `{"alg":"hs256"}`, good())},
		{name: "AlgHS512", tok: hs256(secret, `{"alg":"HS512"}`, good())},
		{name: "Crit", tok: hs256(secret, `{"alg":"HS256","crit":["exp"]}`, good())},
		{name: "WrongSecret", tok: hs256(wrong, hdr, good())},
		{name: "UnknownKid", tok: hs256(secret, `{"alg":"HS256","kid":"hs256-99"}`, good())},
		{name: "HS256WithRSAPublicKeyPEM", tok: hsWithPub(pemKey)},
		{name: "HS256WithRSAPublicKeyDER", tok: hsWithPub(der)},
		{name: "HS256WithRSAJWK", tok: hsWithPub(jwkJSON)},
		{name: "HS256WithRSAModulus", tok: hsWithPub(rk.N.Bytes())},
		{name: "RS256WithoutKid", tok: rs256(`{"alg":"RS256"}`, good())},
		{name: "RS256UnderHSKid", tok: rs256(`{"alg":"RS256","kid":"`+kid+`"}`, good())},
		{name: "ES256UnderRSAKey", tok: rs256(`{"alg":"ES256","kid":"rsa-1"}`, good())},
		{name: "Expired", tok: hs256(secret, hdr, good("iat", now-7200, "exp", now-120)), reason: "token_expired"},
		{name: "NbfFuture", tok: hs256(secret, hdr, good("nbf", now+120))},
		{name: "IatFuture", tok: hs256(secret, hdr, good("iat", now+120, "exp", now+1200))},
		{name: "MissingExp", tok: hs256(secret, hdr, good("exp", nil))},
		{name: "ExpString", tok: hs256(secret, hdr, good("exp", "9999999999"))},
		{name: "LifetimeOverMax", tok: hs256(secret, hdr, good("exp", now+2592000+3600))},
		{name: "LifetimeOverMaxNoIat", tok: hs256(secret, hdr, good("iat", nil, "exp", now+2592000+3600))},
		{name: "MissingIssAlone", tok: hs256(secret, hdr, good("iss", nil)), alone: true},
		{name: "WrongIss", tok: hs256(secret, hdr, good("iss", "other"))},
		{name: "UnknownIss", tok: hs256(secret, hdr, good("iss", "no-such-account"))},
		{name: "IssNotString", tok: hs256(secret, hdr, good("iss", 5))},
		{name: "WrongAud", tok: hs256(secret, hdr, good("aud", "someone-else"))},
		{name: "NoUser", tok: hs256(secret, hdr, good("userId", nil))},
		{name: "BadUser", tok: hs256(secret, hdr, good("userId", "has space"))},
		{name: "SignatureTampered", tok: hs256(secret, hdr, good())[:len(hs256(secret, hdr, good()))-2] + "AA"},
		{name: "PayloadSwapped", tok: swapPayload(hs256(secret, hdr, good()), good("userId", "admin"))},
		{name: "Padded", tok: hs256(secret, hdr, good()) + "="},
		{name: "TooLong", tok: big},
		{name: "Garbage", tok: "abc.def.ghi"},
		{name: "Empty segments", tok: ".."},
		{name: "HeaderNotObject", tok: hs256(secret, `[]`, good())},
		{name: "PayloadNotObject", tok: hs256(secret, hdr, `"x"`)},
		{name: "DuplicateClaim", tok: hs256(secret, hdr, strings.TrimSuffix(good(), "}")+`,"userId":"admin"}`)},
	}
	ts.newAccount("other")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, h := range [][]string{bearer(tt.tok), {"Authorization", "", "x-alloy-user-token", tt.tok}} {
				r := ts.call("GET", "/api/servers", nil, h...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
				want := tt.reason
				if want == "" {
					want = "token_invalid"
				}
				if r.detail("reason") != want && tt.name != "Garbage" {
					t.Fatalf("details.reason %v, want %s", r.detail("reason"), want)
				}
			}
			if !tt.alone {
				ts.call("GET", "/api/servers", nil, "x-alloy-user-token", tt.tok).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
			}
		})
	}
	// Beside an API key iss may be absent.
	ts.call("GET", "/api/servers", nil, "x-alloy-user-token", hs256(secret, hdr, good("iss", nil))).want(t, http.StatusOK)
	// Two dots but not a JWT, and neither a key nor a JWT: 401 too.
	ts.call("GET", "/api/servers", nil, bearer("a.b")...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

func swapPayload(tok, payload string) string {
	p := strings.Split(tok, ".")
	return p[0] + "." + b64.EncodeToString([]byte(payload)) + "." + p[2]
}

// TestAPIJWTSecretRotation: the previous secret verifies during its grace
// period and not after; an older previous secret dies at the next rotation;
// grace 0 ends the previous secret at once.
func TestAPIJWTSecretRotation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	minted := ts.mint("cust-42", nil) // signed with hs256-1
	ts.call("GET", "/api/servers", nil, bearer(minted)...).want(t, http.StatusOK)

	now := time.Now().Unix()
	payload := claims("userId", "cust-42", "iss", "default", "iat", now, "exp", now+3600)
	kid2, s2, r := ts.rotate(86400)
	if kid2 != "hs256-2" || len(r.str("secret")) != 43 || r.str("previousKid") != "hs256-1" {
		t.Fatalf("rotate: %s", r.Body)
	}
	if until := parseTime(t, r.JSON["previousValidUntil"]); time.Until(until) < 86400*time.Second-5*time.Second || time.Until(until) > 86400*time.Second {
		t.Fatalf("previousValidUntil %v", until)
	}
	if len(r.JSON) != 4 {
		t.Fatalf("rotate response members: %s", r.Body)
	}
	acct := ts.call("GET", "/api/account", nil).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"currentKid": "hs256-2", "previousKid": "hs256-1", "previousValidUntil": r.JSON["previousValidUntil"]},
		acct.JSON["jwt"].(map[string]any)["hs256"]); d != "" {
		t.Fatalf("account jwt.hs256 (-want +got):\n%s", d)
	}
	// The previous secret (minted token) and the new one both verify.
	ts.call("GET", "/api/servers", nil, bearer(minted)...).want(t, http.StatusOK)
	tok2 := hs256(s2, `{"alg":"HS256","kid":"hs256-2","typ":"JWT"}`, payload)
	tok2NoKid := hs256(s2, `{"alg":"HS256","typ":"JWT"}`, payload)
	ts.call("GET", "/api/servers", nil, bearer(tok2)...).want(t, http.StatusOK)
	ts.call("GET", "/api/servers", nil, bearer(tok2NoKid)...).want(t, http.StatusOK)
	// New mints use the new kid.
	if h, _ := jwtParts(t, ts.mint("cust-42", nil)); !strings.Contains(h, `"kid":"hs256-2"`) {
		t.Fatalf("minted after rotation: %s", h)
	}

	// Second rotation: hs256-2 becomes previous, hs256-1 stops at once.
	kid3, s3, r := ts.rotate(3600)
	if kid3 != "hs256-3" || r.str("previousKid") != "hs256-2" {
		t.Fatalf("second rotate: %s", r.Body)
	}
	ts.call("GET", "/api/servers", nil, bearer(minted)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED", "reason", "token_invalid")
	ts.call("GET", "/api/servers", nil, bearer(tok2)...).want(t, http.StatusOK)
	ts.call("GET", "/api/servers", nil, bearer(tok2NoKid)...).want(t, http.StatusOK)
	tok3 := hs256(s3, `{"alg":"HS256","kid":"hs256-3"}`, payload)
	ts.call("GET", "/api/servers", nil, bearer(tok3)...).want(t, http.StatusOK)

	// Grace 0: the previous secret dies with the response.
	_, s4, r := ts.rotate(0)
	if r.str("previousKid") != "hs256-3" {
		t.Fatalf("third rotate: %s", r.Body)
	}
	ts.call("GET", "/api/servers", nil, bearer(tok3)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	ts.call("GET", "/api/servers", nil, bearer(tok2)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	ts.call("GET", "/api/servers", nil, bearer(hs256(s4, `{"alg":"HS256","kid":"hs256-4"}`, payload))...).want(t, http.StatusOK)
	if hs := ts.call("GET", "/api/account", nil).JSON["jwt"].(map[string]any)["hs256"]; cmp.Diff(
		map[string]any{"currentKid": "hs256-4", "previousKid": nil, "previousValidUntil": nil}, hs) != "" {
		t.Fatalf("account after grace 0: %v", hs)
	}

	// A short grace: valid now (checked right away), invalid once it passed.
	_, s5, r := ts.rotate(2)
	tok4 := hs256(s4, `{"alg":"HS256","kid":"hs256-4"}`, payload)
	until := parseTime(t, r.JSON["previousValidUntil"])
	if time.Now().Before(until.Add(-200 * time.Millisecond)) {
		ts.call("GET", "/api/servers", nil, bearer(tok4)...).want(t, http.StatusOK)
	}
	time.Sleep(time.Until(until) + 50*time.Millisecond)
	ts.call("GET", "/api/servers", nil, bearer(tok4)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	ts.call("GET", "/api/servers", nil, bearer(hs256(s5, `{"alg":"HS256","kid":"hs256-5"}`, payload))...).want(t, http.StatusOK)

	for _, body := range []string{`{"gracePeriodSeconds":-1}`, `{"gracePeriodSeconds":604801}`, `{"gracePeriodSeconds":1.5}`,
		`{"gracePeriodSeconds":"60"}`, `{"gracePeriodSeconds":null}`, `{"grace":60}`} {
		ts.call("POST", "/api/account/jwt-secret/rotate", body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
	}
	// Defaults: empty body and {} give a day of grace.
	for _, body := range []any{nil, `{}`} {
		r := ts.call("POST", "/api/account/jwt-secret/rotate", body).want(t, http.StatusOK)
		if d := time.Until(parseTime(t, r.JSON["previousValidUntil"])); d < 86395*time.Second || d > 86400*time.Second {
			t.Fatalf("default grace %v", d)
		}
	}
	ts.call("POST", "/api/account/jwt-secret/rotate", `{"gracePeriodSeconds":604800}`).want(t, http.StatusOK)
}

// A rotation with grace 0 is effective from its response on, even while
// requests with the old secret race the cache refill.
func TestAPIJWTRotationRacesCache(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	now := time.Now().Unix()
	payload := claims("userId", "cust-42", "iss", "default", "iat", now, "exp", now+3600)
	for round := range 8 {
		_, secret, _ := ts.rotate(604800)
		tok := hs256(secret, `{"alg":"HS256"}`, payload)
		stop := make(chan struct{})
		done := make(chan struct{})
		for range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("GET", ts.URL+"/api/servers", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					if res, err := http.DefaultClient.Do(req); err == nil {
						res.Body.Close()
					}
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		ts.rotate(0)
		for range 3 {
			if r := ts.call("GET", "/api/servers", nil, bearer(tok)...); r.Status != http.StatusUnauthorized {
				close(stop)
				t.Fatalf("round %d: token of the replaced secret answers %d after a grace-0 rotation", round, r.Status)
			}
		}
		close(stop)
		for range 4 {
			<-done
		}
	}
}
