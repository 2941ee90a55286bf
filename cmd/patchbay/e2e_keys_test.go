package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// §14 and §18: master keys, bootstrap and key rotation with the real binary.

func TestE2EWrongMasterKeyRefusesToStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, wrong := masterKey(2), masterKey(3)
	p := serve(t, []string{"PATCHBAY_MASTER_KEY=" + good, "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}, serveArgs(dir)...)
	p.client(e2eAdminKey).call("POST", "/api/servers", `{"name":"Sealed"}`).want(t, http.StatusCreated)
	if code := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"WrongKey", []string{"PATCHBAY_MASTER_KEY=" + wrong}},
		{"NoKey", nil},
		{"MalformedKey", []string{"PATCHBAY_MASTER_KEY=not-base64-at-all"}},
		{"ShortKey", []string{"PATCHBAY_MASTER_KEY=" + good[:20]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr, code := tryServe(t, tt.env, serveArgs(dir)...)
			if pr != nil {
				t.Fatal("serve started")
			}
			if code != 3 {
				t.Fatalf("exit code %d, want 3", code)
			}
			// Every command that needs the key refuses the same way.
			code, out, errOut := command(t, tt.env, "keys", "status", "--data-dir", dir)
			if code != 3 {
				t.Fatalf("keys status exit %d: %s %s", code, out, errOut)
			}
			msg := errOut
			if !strings.Contains(strings.ToLower(msg), "master key") {
				t.Fatalf("message does not name the problem: %q", msg)
			}
			for _, k := range []string{good, wrong, good[:20], strings.TrimRight(good, "=")} {
				if strings.Contains(msg, k) {
					t.Fatalf("message contains a key: %q", msg)
				}
			}
		})
	}
	// The right key still starts it, with the data intact.
	p = serve(t, []string{"PATCHBAY_MASTER_KEY=" + good}, serveArgs(dir)...)
	if n := p.client(e2eAdminKey).call("GET", "/api/servers", nil).want(t, http.StatusOK).num("count"); n != 1 {
		t.Fatalf("%v servers", n)
	}
	p.stop(syscall.SIGTERM)
}

func TestE2EBootstrap(t *testing.T) {
	t.Parallel()
	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, k := range []string{"pb_short", "sk_" + strings.Repeat("a", 40), "pb_" + strings.Repeat("a", 31), "pb_" + strings.Repeat("-", 40)} {
			dir := t.TempDir()
			pr, code := tryServe(t, []string{"PATCHBAY_MASTER_KEY=" + masterKey(4), "PATCHBAY_BOOTSTRAP_API_KEY=" + k}, serveArgs(dir)...)
			if pr != nil || code != 2 {
				t.Fatalf("%q: exit %d, want 2", k, code)
			}
		}
	})
	t.Run("Given", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		long := "pb_" + strings.Repeat("Z", 32)
		p := serve(t, []string{"PATCHBAY_MASTER_KEY=" + masterKey(4), "PATCHBAY_BOOTSTRAP_API_KEY=" + long}, serveArgs(dir)...)
		if strings.Contains(p.stderr.String(), "shown once") || strings.Contains(p.stderr.String(), long) {
			t.Fatalf("a given bootstrap key is printed:\n%s", p.stderr.String())
		}
		c := p.client(long)
		acct := c.call("GET", "/api/account", nil).want(t, http.StatusOK)
		if acct.str("accountId") != "default" || acct.str("name") != "Default account" {
			t.Fatalf("bootstrap account %s", acct.Body)
		}
		keys := c.call("GET", "/api/keys", nil).want(t, http.StatusOK).list("keys")
		if len(keys) != 1 || keys[0]["userId"] != "admin" || keys[0]["role"] != "admin" || keys[0]["keyPrefix"] != long[:7] {
			t.Fatalf("bootstrap key %v", keys)
		}
		p.stop(syscall.SIGTERM)
	})
	t.Run("Generated", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		// No master key configured either: the file is generated with mode 0600.
		p := serve(t, nil, serveArgs(dir)...)
		out := p.stderr.String()
		re := regexp.MustCompile(`(?m)^patchbay: bootstrap admin API key \(shown once\): (pb_[0-9A-Za-z]{40})$`)
		m := re.FindAllStringSubmatch(out, -1)
		if len(m) != 1 {
			t.Fatalf("bootstrap key lines: %d in\n%s", len(m), out)
		}
		key := m[0][1]
		if strings.Count(out, key) != 1 {
			t.Fatal("the key is printed more than once")
		}
		p.client(key).call("GET", "/api/keys", nil).want(t, http.StatusOK)
		fi, err := os.Stat(filepath.Join(dir, "master.key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("master.key: %v %v", fi, err)
		}
		p.stop(syscall.SIGTERM)
		p = serve(t, nil, serveArgs(dir)...)
		if strings.Contains(p.stderr.String(), "bootstrap admin API key") {
			t.Fatal("bootstrap key printed again on restart")
		}
		p.client(key).call("GET", "/api/keys", nil).want(t, http.StatusOK)
		p.stop(syscall.SIGTERM)
	})
}

// TestE2EKeysRotate: `keys rotate` while serving; every accessUrl keeps
// working, old data key versions are retired, and a restart still opens
// everything.
func TestE2EKeysRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"PATCHBAY_MASTER_KEY=" + masterKey(5), "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
	const public = "http://patchbay.test"
	p := serve(t, env, serveArgs(dir, "--public-url", public)...)
	c := p.client(e2eAdminKey)
	acme := "pb_" + strings.Repeat("A", 40)
	code, out, errOut := command(t, env, "accounts", "create", "acme", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("accounts create: %d %s %s", code, out, errOut)
	}
	if m := regexp.MustCompile(`pb_[0-9A-Za-z]{40}`).FindString(out); m != "" {
		acme = m
	}
	ca := p.client(acme)
	var urls []string
	for i, cl := range []*testServer{c, c, ca} {
		r := cl.call("POST", "/api/servers", map[string]any{"name": "R" + string(rune('0'+i))}).want(t, http.StatusCreated)
		urls = append(urls, r.str("accessUrl"))
	}
	signed := c.call("POST", "/api/keys", `{"name":"s","role":"admin","requireSignature":true}`).want(t, http.StatusCreated)
	rot := c.call("POST", "/api/account/jwt-secret/rotate", `{"gracePeriodSeconds":3600}`).want(t, http.StatusOK)
	minted := c.call("POST", "/api/users/u/token", nil).want(t, http.StatusOK).str("token")

	status := func() string {
		t.Helper()
		code, out, errOut := command(t, env, "keys", "status", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("keys status: %d %s", code, errOut)
		}
		return out
	}
	st := status()
	if !regexp.MustCompile(`(?m)^master key fingerprint: [0-9a-f]{8}$`).MatchString(st) ||
		!regexp.MustCompile(`(?m)^default\s+1\s+active\s+\d+`).MatchString(st) || !regexp.MustCompile(`(?m)^acme\s+1\s+active`).MatchString(st) {
		t.Fatalf("keys status before rotation:\n%s", st)
	}
	code, out, errOut = command(t, env, "keys", "rotate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "account default: data key version 2") || !strings.Contains(out, "account acme: data key version 2") ||
		!strings.Contains(out, " 0 failed") {
		t.Fatalf("keys rotate: %d\n%s\n%s", code, out, errOut)
	}
	st = status()
	for _, re := range []string{`(?m)^default\s+1\s+retired\s+0\s`, `(?m)^default\s+2\s+active\s+[1-9]\d*\s`, `(?m)^acme\s+1\s+retired\s+0\s`, `(?m)^acme\s+2\s+active\s+[1-9]`} {
		if !regexp.MustCompile(re).MatchString(st) {
			t.Fatalf("keys status after rotation lacks %s:\n%s", re, st)
		}
	}
	check := func(p *proc) {
		t.Helper()
		c, ca := p.client(e2eAdminKey), p.client(acme)
		got := append(c.call("GET", "/api/servers", nil).want(t, http.StatusOK).list("servers"), ca.call("GET", "/api/servers", nil).want(t, http.StatusOK).list("servers")...)
		var gotURLs []string
		for _, s := range got {
			gotURLs = append(gotURLs, s["accessUrl"].(string))
		}
		if d := cmp.Diff(len(urls), len(gotURLs)); d != "" {
			t.Fatal(d)
		}
		for _, u := range urls {
			if !strings.Contains(strings.Join(gotURLs, " "), u) {
				t.Fatalf("accessUrl %s lost after rotation; have %v", u, gotURLs)
			}
			if st, body := mcpPing(t, p.localURL(public, u)); !(st == http.StatusNotFound && strings.Contains(body, "NOT_FOUND")) && !pingOK(st, body) {
				t.Fatalf("accessUrl after rotation: %d %s", st, body)
			}
		}
		s := sign(t, signed.str("apiKey"), signed.str("signingSecret"), "GET", "/api/servers", "", 0)
		c.send(s, s.Target, "").want(t, http.StatusOK)
		c.call("GET", "/api/servers", nil, bearer(minted)...).want(t, http.StatusOK)
		sec, _ := b64.DecodeString(rot.str("secret"))
		c.call("GET", "/api/servers", nil, bearer(hs256(sec, `{"alg":"HS256"}`, claims("sub", "x", "iss", "default", "exp", time.Now().Unix()+60)))...).
			want(t, http.StatusOK)
	}
	check(p)
	// New writes after the rotation use the new version.
	c.call("POST", "/api/servers", `{"name":"After"}`).want(t, http.StatusCreated)
	urls = append(urls, c.call("GET", "/api/servers?limit=1", nil).list("servers")[0]["accessUrl"].(string))
	p.stop(syscall.SIGTERM)
	st = status()
	if !regexp.MustCompile(`(?m)^default\s+1\s+retired\s+0\s`).MatchString(st) {
		t.Fatalf("a record was sealed with the retired version after rotation:\n%s", st)
	}
	p = serve(t, env, serveArgs(dir, "--public-url", public)...)
	check(p)
	p.stop(syscall.SIGTERM)
	// Rotating one account only.
	code, out, _ = command(t, env, "keys", "rotate", "--account", "acme", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "account acme: data key version 3") || strings.Contains(out, "account default") {
		t.Fatalf("keys rotate --account acme: %d\n%s", code, out)
	}
	// The audit log records each rotation.
	p = serve(t, env, serveArgs(dir)...)
	ev := p.client(acme).call("GET", "/api/audit?type=encryption.keys_rotated", nil).want(t, http.StatusOK).list("events")
	if len(ev) != 2 || ev[0]["actor"].(map[string]any)["kind"] != "cli" || ev[0]["details"].(map[string]any)["newVersion"] != 3.0 {
		t.Fatalf("encryption.keys_rotated events: %v", ev)
	}
	p.stop(syscall.SIGTERM)
}

func TestE2EMasterKeyRotation(t *testing.T) {
	t.Parallel()
	t.Run("EnvKey", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		oldKey, newKey := masterKey(6), masterKey(7)
		env := []string{"PATCHBAY_MASTER_KEY=" + oldKey, "PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}
		p := serve(t, env, serveArgs(dir, "--public-url", "http://patchbay.test")...)
		url := p.client(e2eAdminKey).call("POST", "/api/servers", `{"name":"M"}`).want(t, http.StatusCreated).str("accessUrl")
		p.stop(syscall.SIGTERM)
		f := filepath.Join(t.TempDir(), "new.key")
		if err := os.WriteFile(f, []byte(newKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := command(t, env, "keys", "rotate", "--master", "--new-master-key-file", f, "--data-dir", dir)
		if code != 0 || !strings.Contains(out, "PATCHBAY_MASTER_KEY") {
			t.Fatalf("rotate --master: %d\n%s\n%s", code, out, errOut)
		}
		if strings.Contains(out+errOut, newKey) || strings.Contains(out+errOut, oldKey) {
			t.Fatal("rotate --master prints a key")
		}
		if pr, code := tryServe(t, []string{"PATCHBAY_MASTER_KEY=" + oldKey}, serveArgs(dir, "--public-url", "http://patchbay.test")...); pr != nil || code != 3 {
			t.Fatalf("old master key: exit %d, want 3", code)
		}
		p = serve(t, []string{"PATCHBAY_MASTER_KEY=" + newKey}, serveArgs(dir, "--public-url", "http://patchbay.test")...)
		if got := p.client(e2eAdminKey).call("GET", "/api/servers", nil).want(t, http.StatusOK).list("servers")[0]["accessUrl"]; got != url {
			t.Fatalf("accessUrl %v, want %s", got, url)
		}
		p.stop(syscall.SIGTERM)
		// During the change both keys may be configured.
		p = serve(t, []string{"PATCHBAY_MASTER_KEY=" + newKey, "PATCHBAY_MASTER_KEY_PREVIOUS=" + oldKey}, serveArgs(dir, "--public-url", "http://patchbay.test")...)
		p.stop(syscall.SIGTERM)
	})
	t.Run("FileKey", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := serve(t, []string{"PATCHBAY_BOOTSTRAP_API_KEY=" + e2eAdminKey}, serveArgs(dir)...)
		p.client(e2eAdminKey).call("POST", "/api/servers", `{"name":"F"}`).want(t, http.StatusCreated)
		p.stop(syscall.SIGTERM)
		old, err := os.ReadFile(filepath.Join(dir, "master.key"))
		if err != nil {
			t.Fatal(err)
		}
		newKey := masterKey(8)
		f := filepath.Join(t.TempDir(), "new.key")
		_ = os.WriteFile(f, []byte(newKey), 0o600)
		code, out, errOut := command(t, nil, "keys", "rotate", "--master", "--new-master-key-file", f, "--data-dir", dir)
		if code != 0 {
			t.Fatalf("rotate --master: %d\n%s\n%s", code, out, errOut)
		}
		prev, err := os.ReadFile(filepath.Join(dir, "master.key.previous"))
		if err != nil || strings.TrimSpace(string(prev)) != strings.TrimSpace(string(old)) {
			t.Fatalf("master.key.previous: %v", err)
		}
		cur, _ := os.ReadFile(filepath.Join(dir, "master.key"))
		if strings.TrimSpace(string(cur)) == strings.TrimSpace(string(old)) {
			t.Fatal("master.key not replaced")
		}
		if pr, code := tryServe(t, []string{"PATCHBAY_MASTER_KEY=" + strings.TrimSpace(string(old))}, serveArgs(dir)...); pr != nil || code != 3 {
			t.Fatalf("old master key: exit %d, want 3", code)
		}
		p = serve(t, nil, serveArgs(dir)...)
		if n := p.client(e2eAdminKey).call("GET", "/api/servers", nil).want(t, http.StatusOK).num("count"); n != 1 {
			t.Fatalf("%v servers under the new master key", n)
		}
		p.stop(syscall.SIGTERM)
	})
}
