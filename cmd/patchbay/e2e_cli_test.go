package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// §18.3: the offline commands, with the real binary.

func TestE2EVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := command(t, nil, "version")
	if code != 0 || !regexp.MustCompile(`^patchbay \S+ \(commit \S+, `+regexp.QuoteMeta(runtime.Version())+`\)\n$`).MatchString(out) {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, _ := command(t, nil, "version", "extra"); code != 2 {
		t.Fatalf("version extra: exit %d, want 2", code)
	}
	if code, _, _ := command(t, nil, "no-such-command"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

func TestE2ECLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"PATCHBAY_MASTER_KEY=" + masterKey(11)}
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := command(t, env, append(args, "--data-dir", dir)...)
		if code != want {
			t.Fatalf("patchbay %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
		}
		return out, errOut
	}
	// migrate creates the database and is idempotent.
	out, _ := run(0, "migrate")
	if !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "patchbay.db")); err != nil {
		t.Fatal(err)
	}
	run(0, "migrate")
	// The database URL flag and its variable name the same file.
	code, _, errOut := command(t, append(env, "PATCHBAY_DATABASE_URL=sqlite://"+filepath.Join(dir, "other.db")), "migrate")
	if code != 0 {
		t.Fatalf("migrate with PATCHBAY_DATABASE_URL: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); err != nil {
		t.Fatal("PATCHBAY_DATABASE_URL ignored by migrate")
	}

	reKey := regexp.MustCompile(`\(shown once\): (pb_[0-9A-Za-z]{40})\n$`)
	out, _ = run(0, "accounts", "create", "acme", "--name", "Acme Corp")
	m := reKey.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("accounts create: %q", out)
	}
	acmeKey := m[1]
	out, _ = run(0, "accounts", "create", "globex", "--admin-user", "ops@globex")
	globexKey := reKey.FindStringSubmatch(out)[1]
	run(1, "accounts", "create", "acme")
	run(2, "accounts", "create", "Bad_ID")
	run(2, "accounts", "create", "x")
	run(2, "accounts", "create")
	run(2, "accounts", "create", "okid", "--admin-user", "bad user")

	out, _ = run(0, "apikeys", "create", "--account", "acme", "--user", "bob", "--role", "user", "--name", "bob's")
	m = regexp.MustCompile(`(pb_[0-9A-Za-z]{40})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("apikeys create: %q", out)
	}
	bobKey := m[1]
	out, _ = run(0, "apikeys", "create", "--account", "acme", "--user", "rescue")
	rescueKey := regexp.MustCompile(`(pb_[0-9A-Za-z]{40})\n$`).FindStringSubmatch(out)[1]
	run(1, "apikeys", "create", "--account", "nope", "--user", "bob")
	run(2, "apikeys", "create", "--user", "bob")
	run(2, "apikeys", "create", "--account", "acme")
	run(2, "apikeys", "create", "--account", "acme", "--user", "bob", "--role", "owner")
	run(2, "apikeys", "create", "--account", "acme", "--user", "bad user")

	// The database is not empty: serve creates no default account, and the
	// keys made offline work online with their roles.
	p := serve(t, append(env, "PATCHBAY_BOOTSTRAP_API_KEY="+e2eAdminKey), serveArgs(dir)...)
	if strings.Contains(p.stderr.String(), "shown once") {
		t.Fatal("bootstrap ran on a non-empty database")
	}
	c := p.client(acmeKey)
	c.call("GET", "/api/servers", nil, bearer(e2eAdminKey)...).want(t, http.StatusUnauthorized)
	acct := c.call("GET", "/api/account", nil).want(t, http.StatusOK)
	if acct.str("accountId") != "acme" || acct.str("name") != "Acme Corp" {
		t.Fatalf("acme account: %s", acct.Body)
	}
	if g := c.call("GET", "/api/account", nil, bearer(globexKey)...).want(t, http.StatusOK); g.str("name") != "globex" {
		t.Fatalf("default name is the ID: %s", g.Body)
	}
	keys := c.call("GET", "/api/keys", nil).want(t, http.StatusOK).list("keys")
	roles := map[string]string{}
	for _, k := range keys {
		roles[k["userId"].(string)] = k["role"].(string)
	}
	if roles["admin"] != "admin" || roles["bob"] != "user" || roles["rescue"] != "admin" || len(keys) != 3 {
		t.Fatalf("acme keys %v", keys)
	}
	c.call("GET", "/api/keys", nil, bearer(rescueKey)...).want(t, http.StatusOK)
	c.call("GET", "/api/keys", nil, bearer(bobKey)...).want(t, http.StatusForbidden)
	id := c.call("POST", "/api/servers", `{"name":"Bob's"}`, bearer(bobKey)...).want(t, http.StatusCreated).str("serverId")
	c.call("GET", "/api/servers/"+id, nil, bearer(globexKey)...).want(t, http.StatusNotFound)
	c.call("GET", "/api/servers/"+id, nil, "x-alloy-userid", "bob").want(t, http.StatusOK)
	// Offline key creation is audited with actor cli.
	ev := c.call("GET", "/api/audit?type=key.created", nil).want(t, http.StatusOK).list("events")
	if len(ev) != 2 || ev[0]["actor"].(map[string]any)["kind"] != "cli" {
		t.Fatalf("key.created events %v", ev)
	}
	// accounts list works beside a running server.
	out, _ = run(0, "accounts", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+NAME$`).MatchString(lines[0]) ||
		!strings.Contains(out, "Acme Corp") || !regexp.MustCompile(`(?m)^globex\s+globex$`).MatchString(out) {
		t.Fatalf("accounts list:\n%s", out)
	}
	p.stop(syscall.SIGTERM)
	// Keys are never printed by list commands.
	for _, k := range []string{acmeKey, bobKey, rescueKey, globexKey} {
		if strings.Contains(out, k) {
			t.Fatal("accounts list prints a key")
		}
	}
}
