package oauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/patchbay-mcp/patchbay"
)

func TestAuthorizeURL(t *testing.T) {
	m := New(nil, nil, nil, &Options{PublicURL: "https://pb.example.com/"})
	base := patchbay.AuthScheme{Type: patchbay.AuthOAuth2, AuthorizationURL: "https://login.example.com/authorize?tenant=x",
		TokenURL: "https://login.example.com/token"}
	verifier := strings.Repeat("v", 64)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	tests := []struct {
		name   string
		scheme func(s *patchbay.AuthScheme)
		scopes []string
		want   url.Values
	}{
		{name: "Defaults", scopes: []string{"a", "b"}, want: url.Values{"tenant": {"x"}, "response_type": {"code"}, "client_id": {"cid"},
			"redirect_uri": {"https://pb.example.com/oauth/callback"}, "scope": {"a b"}, "state": {"st"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}},
		{name: "SeparatorNoPKCEParams", scopes: []string{"a", "b"}, scheme: func(s *patchbay.AuthScheme) {
			s.ScopeSeparator = ","
			s.PKCE = patchbay.Bool(false)
			s.AuthorizeParams = map[string]string{"prompt": "consent", "client_id": "other", "redirect_uri": "https://evil.example"}
		}, want: url.Values{"tenant": {"x"}, "response_type": {"code"}, "client_id": {"cid"}, "prompt": {"consent"},
			"redirect_uri": {"https://pb.example.com/oauth/callback"}, "scope": {"a,b"}, "state": {"st"}}},
		{name: "NoScopes", want: url.Values{"tenant": {"x"}, "response_type": {"code"}, "client_id": {"cid"},
			"redirect_uri": {"https://pb.example.com/oauth/callback"}, "state": {"st"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			if tt.scheme != nil {
				tt.scheme(&s)
			}
			u, err := url.Parse(m.authorizeURL(&s, &app{clientID: "cid", secret: patchbay.NewSecret("never"), scopes: tt.scopes}, "st", verifier))
			if err != nil {
				t.Fatal(err)
			}
			if u.Host != "login.example.com" || u.Path != "/authorize" {
				t.Errorf("url %s", u)
			}
			if diff := cmp.Diff(tt.want, u.Query()); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if strings.Contains(u.String(), "never") {
				t.Error("client secret in the authorize URL")
			}
		})
	}
}

func TestPlaceholderValues(t *testing.T) {
	field := func(name string, secret bool, pattern string) patchbay.AuthField {
		return patchbay.AuthField{Name: name, Secret: patchbay.Bool(secret), Pattern: pattern}
	}
	tests := []struct {
		name   string
		base   string
		fields []patchbay.AuthField
		extras map[string]string
		want   map[string]string
	}{
		{name: "Salesforce", base: "https://{instance}.my.salesforce.com/services/data/v60.0",
			fields: []patchbay.AuthField{field("instance", false, "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")},
			extras: map[string]string{"instance_url": "https://acme.my.salesforce.com"}, want: map[string]string{"instance": "acme"}},
		{name: "CamelCaseName", base: "https://{subDomain}.api.example.com",
			fields: []patchbay.AuthField{field("subDomain", false, "")},
			extras: map[string]string{"api_domain": "https://Team.API.example.com:443/x"}, want: map[string]string{"subDomain": "team"}},
		{name: "OtherHost", base: "https://{instance}.my.salesforce.com",
			fields: []patchbay.AuthField{field("instance", false, "")},
			extras: map[string]string{"instance_url": "https://evil.example"}},
		{name: "ExtraLabelRefused", base: "https://{instance}.my.salesforce.com",
			fields: []patchbay.AuthField{field("instance", false, "")},
			extras: map[string]string{"instance_url": "https://a.b.my.salesforce.com"}},
		{name: "SecretFieldNotFilled", base: "https://{instance}.my.salesforce.com",
			fields: []patchbay.AuthField{field("instance", true, "")},
			extras: map[string]string{"instance_url": "https://acme.my.salesforce.com"}},
		{name: "PatternRefuses", base: "https://{instance}.my.salesforce.com",
			fields: []patchbay.AuthField{field("instance", false, "^[a-c]+$")},
			extras: map[string]string{"instance_url": "https://xyz.my.salesforce.com"}},
		{name: "NoPlaceholder", base: "https://api.example.com", extras: map[string]string{"instance_url": "https://api.example.com"}},
		{name: "NoExtras", base: "https://{instance}.example.com", fields: []patchbay.AuthField{field("instance", false, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := &patchbay.Connector{ID: "x", BaseURL: tt.base}
			got := placeholderValues(conn, schemeFields(&patchbay.AuthScheme{Type: patchbay.AuthOAuth2, Fields: tt.fields}), tt.extras)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	// A reader of all 255s forces rejection; then 0..65 maps the alphabet.
	var b bytes.Buffer
	b.Write(bytes.Repeat([]byte{255}, 96))
	for range 2 {
		for i := range 96 {
			b.WriteByte(byte(i % 66))
		}
	}
	v := newVerifier(&b)
	if v != verifierAlphabet[:64] {
		t.Errorf("verifier %q", v)
	}
	for range 100 {
		v := newVerifier(patternReader())
		if len(v) != 64 || strings.Trim(v, verifierAlphabet) != "" {
			t.Fatalf("verifier %q", v)
		}
	}
}

func patternReader() *bytes.Reader {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return bytes.NewReader(b)
}

func TestWithResult(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"https://a.example/cb", "https://a.example/cb?status=success&credentialId=cred_1"},
		{"https://a.example/cb?x=1", "https://a.example/cb?x=1&status=success&credentialId=cred_1"},
		{"https://a.example/cb?", "https://a.example/cb?status=success&credentialId=cred_1"},
		{"https://a.example/cb?x=1&", "https://a.example/cb?x=1&status=success&credentialId=cred_1"},
	}
	for _, tt := range tests {
		if got := withResult(tt.uri, "status", "success", "credentialId", "cred_1"); got != tt.want {
			t.Errorf("withResult(%q) = %q", tt.uri, got)
		}
	}
	if got := withResult("https://a.example/cb", "error_description", "a b&c=d"); got != "https://a.example/cb?error_description=a+b%26c%3Dd" {
		t.Errorf("encoding: %q", got)
	}
}

func TestMaskUser(t *testing.T) {
	for in, want := range map[string]string{"cust-42": "cus***", "abcd": "abc***", "abc": "***", "a": "***", "": "***"} {
		if got := maskUser(in); got != want {
			t.Errorf("maskUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name string
		err  error
		want tokenFailure
	}{
		{name: "InvalidGrant200", err: &oauth2.RetrieveError{Response: resp(200), ErrorCode: "invalid_grant"},
			want: tokenFailure{rejected: true, status: 200, code: "invalid_grant"}},
		{name: "400", err: &oauth2.RetrieveError{Response: resp(400)}, want: tokenFailure{rejected: true, status: 400}},
		{name: "401", err: &oauth2.RetrieveError{Response: resp(401), ErrorCode: "invalid_client"}, want: tokenFailure{rejected: true, status: 401, code: "invalid_client"}},
		{name: "403", err: &oauth2.RetrieveError{Response: resp(403)}, want: tokenFailure{status: 403}},
		{name: "500", err: &oauth2.RetrieveError{Response: resp(500), ErrorCode: "bad\ncode"}, want: tokenFailure{status: 500}},
		{name: "Network", err: &url.Error{Op: "Post", URL: "https://x", Err: errors.New("connection refused")}, want: tokenFailure{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, classify(tt.err), cmp.AllowUnexported(tokenFailure{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
