package oauth_test

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

const mockPackage = "../tools/npm/node_modules/oauth2-mock-server"

// startMockServer runs the npm oauth2-mock-server and returns its base URL.
// Without node or the package the test is skipped, except under
// PATCHBAY_CI=1, where it fails.
func startMockServer(t *testing.T) string {
	t.Helper()
	unavailable := func(why string) {
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatalf("oauth2-mock-server unavailable: %s (required when PATCHBAY_CI=1)", why)
		}
		t.Skipf("oauth2-mock-server unavailable: %s (run npm ci in tools/npm; PATCHBAY_CI=1 makes this a failure)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	pkg, err := filepath.Abs(mockPackage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pkg, "dist", "index.js")); err != nil {
		unavailable(pkg + " is not installed")
	}
	cmd := exec.Command(node, "testdata/oauth2-mock.mjs", pkg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		unavailable(err.Error())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		close(port)
	}()
	var p string
	select {
	case p = <-port:
	case <-time.After(30 * time.Second):
		t.Fatal("oauth2-mock-server did not start")
	}
	if p == "" {
		t.Fatal("oauth2-mock-server exited")
	}
	addr := net.JoinHostPort("127.0.0.1", p)
	for i := 0; ; i++ { // poll until it accepts connections
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("oauth2-mock-server port %s: %v", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// jwtVerifier checks the mock's RS256 access tokens against its JWKS, as a
// platform API would.
type jwtVerifier struct {
	issuer string
	keys   map[string]*rsa.PublicKey
}

func newJWTVerifier(t *testing.T, base string) *jwtVerifier {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Issuer string }
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || meta.Issuer == "" {
		t.Fatalf("discovery document: %v", err)
	}
	issuer := meta.Issuer
	resp, err = http.Get(base + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	v := &jwtVerifier{issuer: issuer, keys: map[string]*rsa.PublicKey{}}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil {
			continue
		}
		v.keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return v
}

// accepts reports whether token is a valid, unexpired JWT of the issuer.
func (v *jwtVerifier) accepts(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Exp int64
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	p, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(h, &header) != nil || json.Unmarshal(p, &claims) != nil {
		return false
	}
	key := v.keys[header.Kid]
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return header.Alg == "RS256" && key != nil && rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) == nil &&
		claims.Iss == v.issuer && time.Unix(claims.Exp, 0).After(time.Now())
}

// TestAgainstOAuth2MockServer runs the connect, refresh and re-auth life of
// a credential against the real third-party oauth2-mock-server.
func TestAgainstOAuth2MockServer(t *testing.T) {
	base := startMockServer(t)
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.catalog.add(&patchbay.Connector{ID: "mock", Name: "Mock", BaseURL: "https://api.mock.example", Auth: []patchbay.AuthScheme{{
		Type: patchbay.AuthOAuth2, AuthorizationURL: base + "/authorize", TokenURL: base + "/token", RevocationURL: base + "/revoke",
		Scopes: []string{"openid", "profile"}}}})
	e.putApp(accountA, "mock", "mock-client")
	platform := newJWTVerifier(t, base)

	r := startReq("mock")
	r.Fields = nil
	c := e.connectNew(r)
	if c.Status != patchbay.CredentialActive || c.ExpiresAt == nil || !c.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("credential %+v", view(c))
	}
	src := e.m.Source(c, "", "")
	mat, err := src.Material(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := mat.AccessToken.Reveal()
	firstRefresh := e.canarySecret(c).RefreshToken
	if !platform.accepts(first) {
		t.Fatal("the platform rejects the access token")
	}

	e.clock.Advance(time.Hour)
	mat, err = src.Material(ctx)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	second := mat.AccessToken.Reveal()
	// RS256 is deterministic: within the same second the mock may sign the
	// same claims again, so the rotated refresh token shows the refresh.
	refreshed := e.findCredential(accountA, userA, c.ID)
	if !platform.accepts(second) || refreshed.Revision != c.Revision+1 || e.canarySecret(refreshed).RefreshToken == firstRefresh {
		t.Fatal("refresh did not store a new valid token")
	}

	// The user revokes access at the provider.
	resp, err := http.PostForm(base+"/revoke", url.Values{"token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.clock.Advance(time.Hour)
	_, err = src.Material(ctx)
	reauthURL, _ := errDetails(err)["oauthUrl"].(string)
	if patchbay.ErrorCode(err) != patchbay.ECredentialNotFound || reason(err) != "needs_reauth" || reauthURL == "" {
		t.Fatalf("after revocation: %v %v", err, errDetails(err))
	}
	final := connect(t, newBrowser(t), reauthURL)
	if final.Query().Get("credentialId") != c.ID || final.Query().Get("status") != "success" {
		t.Fatalf("reconnect ended at %s", final)
	}
	mat, err = e.m.Source(e.findCredential(accountA, userA, c.ID), "", "").Material(ctx)
	if err != nil || !platform.accepts(mat.AccessToken.Reveal()) {
		t.Fatalf("after reconnect: %v", err)
	}
	e.canarySecret(e.findCredential(accountA, userA, c.ID))
	if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); err != nil {
		t.Fatal(err)
	}
}

// canarySecret registers the stored tokens of c as leak canaries.
func (e *env) canarySecret(c *patchbay.Credential) *patchbay.CredentialSecret {
	e.t.Helper()
	pt, err := e.vault.Open(context.Background(), c.AccountID, c.ID, c.Sealed)
	if err != nil {
		e.t.Fatal(err)
	}
	var s patchbay.CredentialSecret
	if err := json.Unmarshal(pt, &s); err != nil {
		e.t.Fatal(err)
	}
	for _, v := range []string{s.AccessToken, s.RefreshToken} {
		if v != "" {
			e.canary(v)
		}
	}
	return &s
}
