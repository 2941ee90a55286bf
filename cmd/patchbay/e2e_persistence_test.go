package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const e2eAdminKey = "pb_E2eAdminKey0123456789abcdefghijklmnopqrstu"

// TestE2ERestartKeepsEverything: servers, keys, tokens, JWT secrets and
// account settings survive a restart, and the raw database files hold none
// of the secrets in plaintext.
func TestE2ERestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const public = "https://gw.example.com"
	env := []string{"PATCHBAY_MASTER_KEY=" + masterKey(1), "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
	p := serve(t, env, serveArgs(dir, "--public-url", public)...)
	c := p.client(e2eAdminKey)

	var secrets []string // plaintext that must never reach the database files
	secrets = append(secrets, e2eAdminKey)
	var serverIDs []string
	for _, body := range []string{
		`{"name":"Alpha","restrictions":{"connectors":{"allowedIds":["slack"]}},"rateLimit":{"requestsPerMinute":5}}`,
		`{"name":"Beta","isPublic":true,"mode":"direct","customInstructions":"be nice"}`,
	} {
		r := c.call("POST", "/api/servers", body).want(t, http.StatusCreated)
		serverIDs = append(serverIDs, r.str("serverId"))
		secrets = append(secrets, r.str("accessToken"))
	}
	r := c.call("POST", "/api/servers", `{"name":"Gamma"}`, "x-alloy-userid", "cust-1").want(t, http.StatusCreated)
	secrets = append(secrets, r.str("accessToken"))
	regen := c.call("POST", "/api/servers/"+serverIDs[1]+"/regenerate-token", nil).want(t, http.StatusOK)
	secrets = append(secrets, regen.str("accessToken"))
	user := c.call("POST", "/api/keys", `{"name":"u","role":"user","userId":"cust-1"}`).want(t, http.StatusCreated).str("apiKey")
	signed := c.call("POST", "/api/keys", `{"name":"s","role":"admin","requireSignature":true}`).want(t, http.StatusCreated)
	signKey, signSecret := signed.str("apiKey"), signed.str("signingSecret")
	secrets = append(secrets, user, signKey, signSecret)
	rot := c.call("POST", "/api/account/jwt-secret/rotate", `{"gracePeriodSeconds":604800}`).want(t, http.StatusOK)
	jwtSecret := rot.str("secret")
	secrets = append(secrets, jwtSecret)
	rawJWTSecret, _ := b64.DecodeString(jwtSecret)
	minted := c.call("POST", "/api/users/cust-1/token", `{"expiresInSeconds":3600}`).want(t, http.StatusOK).str("token")
	c.call("PUT", "/api/account", `{"allowedRedirectUris":["https://app.example.com/cb"]}`).want(t, http.StatusOK)

	snapshot := func(c *testServer) map[string]any {
		keys := c.call("GET", "/api/keys", nil).want(t, http.StatusOK).JSON
		for _, k := range keys["keys"].([]any) {
			delete(k.(map[string]any), "lastUsedAt")
		}
		return map[string]any{
			"admin":   c.call("GET", "/api/servers", nil).want(t, http.StatusOK).JSON,
			"cust-1":  c.call("GET", "/api/servers", nil, "x-alloy-userid", "cust-1").want(t, http.StatusOK).JSON,
			"keys":    keys,
			"account": c.call("GET", "/api/account", nil).want(t, http.StatusOK).JSON,
		}
	}
	before := snapshot(c)
	checkFiles := func(when string) {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, "patchbay.db*"))
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range secrets {
				// The whole value, and its random part without the prefix.
				rnd := s[strings.LastIndex(s, "_")+1:]
				if bytes.Contains(b, []byte(s)) || len(rnd) >= 32 && bytes.Contains(b, []byte(rnd)) {
					t.Errorf("%s: %s holds secret #%d in plaintext", when, filepath.Base(f), i)
				}
			}
			for name, raw := range map[string][]byte{"JWT secret bytes": rawJWTSecret, "master key bytes": bytes.Repeat([]byte{1}, 32)} {
				if bytes.Contains(b, raw) {
					t.Errorf("%s: %s holds the %s", when, filepath.Base(f), name)
				}
			}
			if bytes.Contains(b, []byte(masterKey(1))) {
				t.Errorf("%s: %s holds the master key", when, filepath.Base(f))
			}
		}
	}
	checkFiles("running")
	if code := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	checkFiles("stopped")

	p = serve(t, env, serveArgs(dir, "--public-url", public)...)
	if !strings.Contains(p.stderr.String(), "PATCHBAY_BOOTSTRAP_API_KEY is ignored") {
		t.Errorf("no warning about the ignored bootstrap key:\n%s", p.stderr.String())
	}
	c = p.client(e2eAdminKey)
	if d := cmp.Diff(before, snapshot(c)); d != "" {
		t.Fatalf("state after restart (-before +after):\n%s", d)
	}
	// Every credential still works.
	c.call("GET", "/api/servers", nil, bearer(user)...).want(t, http.StatusOK)
	c.call("GET", "/api/keys", nil, bearer(user)...).want(t, http.StatusForbidden)
	s := sign(t, signKey, signSecret, "GET", "/api/servers", "", 0)
	c.send(s, s.Target, "").want(t, http.StatusOK)
	c.call("GET", "/api/servers", nil, bearer(minted)...).want(t, http.StatusOK)
	now := time.Now().Unix()
	own := hs256(rawJWTSecret, `{"alg":"HS256","kid":"hs256-2"}`, claims("userId", "cust-1", "iss", "default", "exp", now+60))
	c.call("GET", "/api/servers", nil, bearer(own)...).want(t, http.StatusOK)
	// The access URLs (tokens decrypted after the restart) answer MCP.
	for _, srv := range append(before["admin"].(map[string]any)["servers"].([]any), before["cust-1"].(map[string]any)["servers"].([]any)...) {
		u := p.localURL(public, srv.(map[string]any)["accessUrl"].(string))
		if st, body := mcpPing(t, u); st == http.StatusNotFound && strings.Contains(body, "NOT_FOUND") {
			continue // no MCP face in this build
		} else if srv.(map[string]any)["isPublic"] != true && !pingOK(st, body) {
			t.Fatalf("accessUrl after restart: %d %s", st, body)
		}
	}
	checkFiles("restarted")
	if code := p.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
}
