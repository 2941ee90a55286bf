package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Acceptance point 4: an isolation fuzz. Three accounts with two users
// each (the same user IDs in every account), a custom connector of the
// same ID in every account plus one of each account's own, credentials,
// private servers per user and a public server per account, all carrying
// canaries. Thousands of generated requests mix valid and foreign server
// IDs, tokens, keys, JWTs, connector IDs and credential IDs. No answer may
// hold a canary of another account, user or server, and foreign objects
// always look not found.

// Canaries are CNRY.<account>.<owner>.<kind>.END; owner is a user ID or
// "public" (a server) or "acct" (a connector).
var canaryRE = regexp.MustCompile(`CNRY\.([a-z0-9-]+)\.([A-Za-z0-9-]+)\.([a-z]+)\.END`)

func canary(acct, owner, kind string) string {
	return "CNRY." + acct + "." + owner + "." + kind + ".END"
}

type fzAccount struct {
	id       string
	adminKey string
	users    []*fzUser
	public   *fzServer
}

type fzUser struct {
	acct   *fzAccount
	id     string
	key    string            // user-role API key
	jwt    string            // minted user JWT
	creds  map[string]string // connector ID -> credential ID
	server *fzServer
}

type fzServer struct {
	id, token string
	acct      *fzAccount
	owner     string // user ID, or "public"
	public    bool
}

func (s *fzServer) tokenPath() string { return "/mcp/" + s.id + "/" + s.token }

// fzExpect is what a generated request must get.
type fzExpect struct {
	status int    // HTTP status
	code   string // envelope code for gateway-layer refusals
	acct   string // accepted: the effective account and user, and the server
	user   string
	server *fzServer
}

func isolationConnector(id, acct, baseURL string) map[string]any {
	def := connectorDef(id, canary(acct, "acct", "conn"), baseURL)
	def["description"] = "Isolation fake of " + canary(acct, "acct", "conn")
	def["auth"] = []any{map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key",
		"fields": []any{map[string]any{"name": "tenant", "label": "Tenant", "secret": false, "required": false}}}}
	return def
}

func TestMCPIsolationFuzz(t *testing.T) {
	t.Parallel()
	// A short config TTL: cached configurations, keys and credential lists
	// expire and are refilled while the requests run concurrently.
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1"; c.MgmtRateLimit = 100000; c.ConfigCacheTTL = time.Second })
	p := newPlatform(t)

	// The world.
	accounts := []*fzAccount{{id: "default", adminKey: ts.AdminKey}, {id: "acct-b"}, {id: "acct-c"}}
	for _, a := range accounts[1:] {
		a.adminKey = ts.newAccount(a.id)
	}
	servers := map[string]*fzServer{}
	var allCreds []string
	for _, a := range accounts {
		admin := bearer(a.adminKey)
		ts.createConnector(isolationConnector("shared-crm", a.id, p.URL), admin...)
		ts.createConnector(isolationConnector("only-"+a.id, a.id, p.URL), admin...)
		r := ts.call("POST", "/api/servers", map[string]any{"name": canary(a.id, "public", "srvname"), "isPublic": true,
			"customInstructions": canary(a.id, "public", "instr"), "rateLimit": map[string]any{"requestsPerMinute": 100000}}, admin...).want(t, http.StatusCreated)
		a.public = &fzServer{id: r.str("serverId"), token: r.str("accessToken"), acct: a, owner: "public", public: true}
		servers[a.public.id] = a.public
		for _, uid := range []string{"u1", "u2"} {
			u := &fzUser{acct: a, id: uid, creds: map[string]string{}}
			as := hdrs(admin, []string{"x-alloy-userid", uid})
			u.key = ts.createKey(a.adminKey, map[string]any{"name": "key " + uid, "userId": uid, "role": "user"}).Key
			u.jwt = ts.call("POST", "/api/users/"+uid+"/token", nil, admin...).want(t, http.StatusOK).str("token")
			for _, conn := range []string{"shared-crm", "only-" + a.id} {
				secret := "sk-" + a.id + "-" + uid + "-" + conn
				r := ts.call("POST", "/api/credentials", map[string]any{"connectorId": conn, "authenticationType": "apiKey",
					"name": canary(a.id, uid, "credname"), "fields": map[string]string{"apiKey": secret, "tenant": canary(a.id, uid, "cfg")}},
					as...).want(t, http.StatusCreated)
				u.creds[conn] = r.str("credentialId")
				allCreds = append(allCreds, r.str("credentialId"))
				p.expect(secret, canary(a.id, uid, "up"))
			}
			r := ts.call("POST", "/api/servers", map[string]any{"name": canary(a.id, uid, "srvname"), "customInstructions": canary(a.id, uid, "instr"),
				"rateLimit": map[string]any{"requestsPerMinute": 100000}}, as...).want(t, http.StatusCreated)
			u.server = &fzServer{id: r.str("serverId"), token: r.str("accessToken"), acct: a, owner: uid}
			servers[u.server.id] = u.server
			a.users = append(a.users, u)
		}
	}
	var allServers []*fzServer
	for _, s := range servers {
		allServers = append(allServers, s)
	}

	total := 10000
	if testing.Short() {
		total = 2000
	}
	if v, err := strconv.Atoi(os.Getenv("PATCHBAY_ISOLATION_REQUESTS")); err == nil && v > 0 {
		total = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PATCHBAY_ISOLATION_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (PATCHBAY_ISOLATION_SEED reruns it)", seed)

	const workers = 16
	var sent, accepted, upstream atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &fzGen{rnd: rand.New(rand.NewPCG(seed, uint64(w))), ts: ts, accounts: accounts, servers: allServers, creds: allCreds}
			for i := w; i < total; i += workers {
				if failures.Load() > 20 {
					return
				}
				if err := g.one(&accepted, &upstream); err != nil {
					failures.Add(1)
					t.Errorf("request %d: %v", i, err)
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests, %d accepted, %d executed an action", sent.Load(), accepted.Load(), upstream.Load())
	if sent.Load() < int64(total) && failures.Load() == 0 {
		t.Fatalf("only %d requests sent", sent.Load())
	}
	if accepted.Load() < int64(total)/5 || upstream.Load() < int64(total)/50 {
		t.Errorf("the generator exercises too little: %d accepted, %d executions", accepted.Load(), upstream.Load())
	}
}

// fzGen generates one request with its expectation and checks the answer.
type fzGen struct {
	rnd      *rand.Rand
	ts       *testServer
	accounts []*fzAccount
	servers  []*fzServer
	creds    []string
}

func (g *fzGen) pick(n int) int { return g.rnd.IntN(n) }

func (g *fzGen) account() *fzAccount { return g.accounts[g.pick(len(g.accounts))] }

func (g *fzGen) user(a *fzAccount) *fzUser { return a.users[g.pick(len(a.users))] }

func (g *fzGen) otherAccount(a *fzAccount) *fzAccount {
	for {
		if b := g.account(); b != a {
			return b
		}
	}
}

func randomToken(r *rand.Rand) string {
	const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 40)
	for i := range b {
		b[i] = b62[r.IntN(62)]
	}
	return string(b)
}

// route picks how the request reaches a server and what it must get.
func (g *fzGen) route() (path string, headers []string, want fzExpect) {
	a := g.account()
	u := g.user(a)
	s := u.server
	ok := func(acct *fzAccount, user string, srv *fzServer) fzExpect {
		return fzExpect{status: http.StatusOK, acct: acct.id, user: user, server: srv}
	}
	deny := func(status int, code string) fzExpect { return fzExpect{status: status, code: code} }
	switch g.pick(22) {
	case 0, 1, 2: // token URL of one's own private server
		return s.tokenPath(), nil, ok(a, u.id, s)
	case 3: // a private token URL with the owner named
		return s.tokenPath(), []string{"x-alloy-userid", u.id}, ok(a, u.id, s)
	case 4: // a private token URL naming another user
		return s.tokenPath(), []string{"x-alloy-userid", "u9"}, deny(http.StatusForbidden, "FORBIDDEN")
	case 5: // a private token URL with a JWT of another user of the account
		v := g.user(a)
		return s.tokenPath(), []string{"x-alloy-user-token", v.jwt}, ok(a, v.id, s)
	case 6: // a JWT of another account on a token URL
		v := g.user(g.otherAccount(a))
		return s.tokenPath(), []string{"x-alloy-user-token", v.jwt}, deny(http.StatusUnauthorized, "UNAUTHORIZED")
	case 7: // one server's ID with another server's token
		o := g.servers[g.pick(len(g.servers))]
		if o == s {
			return s.tokenPath(), nil, ok(a, u.id, s)
		}
		return "/mcp/" + s.id + "/" + o.token, nil, deny(http.StatusUnauthorized, "UNAUTHORIZED")
	case 8: // random tokens and server IDs
		switch g.pick(3) {
		case 0:
			return "/mcp/" + s.id + "/mcp_token_" + randomToken(g.rnd), nil, deny(http.StatusUnauthorized, "UNAUTHORIZED")
		case 1:
			return "/mcp/" + strings.ToUpper(s.id) + "/" + s.token, nil, deny(http.StatusUnauthorized, "UNAUTHORIZED")
		default:
			return "/mcp/nope-" + randomToken(g.rnd)[:8] + "/" + s.token, nil, deny(http.StatusUnauthorized, "UNAUTHORIZED")
		}
	case 9, 10: // a public token URL with a JWT of the account
		v := g.user(a)
		return a.public.tokenPath(), []string{"x-alloy-user-token", v.jwt}, ok(a, v.id, a.public)
	case 11: // a public token URL without a JWT, or with another account's
		if g.pick(2) == 0 {
			return a.public.tokenPath(), []string{"x-alloy-userid", u.id}, deny(http.StatusUnauthorized, "UNAUTHORIZED")
		}
		v := g.user(g.otherAccount(a))
		return a.public.tokenPath(), []string{"x-alloy-user-token", v.jwt}, deny(http.StatusUnauthorized, "UNAUTHORIZED")
	case 12, 13: // one's own user key
		return "/mcp/" + s.id, bearer(u.key), ok(a, u.id, s)
	case 14: // a user key on another user's private server of the account
		v := g.user(a)
		if v == u {
			return "/mcp/" + s.id, bearer(u.key), ok(a, u.id, s)
		}
		return "/mcp/" + v.server.id, bearer(u.key), deny(http.StatusNotFound, "NOT_FOUND")
	case 15: // a key of another account
		b := g.otherAccount(a)
		if g.pick(2) == 0 {
			return "/mcp/" + s.id, bearer(b.adminKey), deny(http.StatusNotFound, "NOT_FOUND")
		}
		return "/mcp/" + s.id, bearer(g.user(b).key), deny(http.StatusNotFound, "NOT_FOUND")
	case 16, 17: // the account's admin key acting as a user
		v := g.user(a)
		return "/mcp/" + s.id, hdrs(bearer(a.adminKey), []string{"x-alloy-userid", v.id}), ok(a, v.id, s)
	case 18: // a user key naming another user
		return "/mcp/" + s.id, hdrs(bearer(u.key), []string{"x-alloy-userid", "u9"}), deny(http.StatusForbidden, "FORBIDDEN")
	case 19: // JWT-only on /mcp
		if g.pick(2) == 0 {
			return "/mcp", []string{"x-mcp-server-id", s.id, "Authorization", "Bearer " + u.jwt}, ok(a, u.id, s)
		}
		v := g.user(g.otherAccount(a))
		return "/mcp", []string{"x-mcp-server-id", s.id, "Authorization", "Bearer " + v.jwt}, deny(http.StatusNotFound, "NOT_FOUND")
	case 20: // JWT-only on a public server of another account
		b := g.otherAccount(a)
		return "/mcp/" + b.public.id, bearer(u.jwt), deny(http.StatusNotFound, "NOT_FOUND")
	default: // an invalid or made-up key
		if g.pick(2) == 0 {
			return "/mcp/" + s.id, bearer("pb_" + randomToken(g.rnd)), deny(http.StatusUnauthorized, "UNAUTHORIZED")
		}
		return "/mcp/" + s.id, bearer(u.jwt[:len(u.jwt)-2] + "xx"), deny(http.StatusUnauthorized, "UNAUTHORIZED")
	}
}

// connectorArg picks a connector ID: the caller's, a foreign one (another
// account's own connector), a built-in or a made-up one.
func (g *fzGen) connectorArg(acct string) (id string, visible bool) {
	switch g.pick(6) {
	case 0, 1:
		return "shared-crm", true
	case 2:
		return "only-" + acct, true
	case 3:
		for {
			if b := g.account(); b.id != acct {
				return "only-" + b.id, false
			}
		}
	case 4:
		return "slack", true
	default:
		return "ghost-" + strings.ToLower(randomToken(g.rnd)[:6]), false
	}
}

// one sends one request and checks its answer.
func (g *fzGen) one(accepted, executed *atomic.Int64) error {
	path, headers, want := g.route()
	acct := want.acct
	if acct == "" {
		acct = g.account().id
	}
	conn, visible := g.connectorArg(acct)
	credID := g.creds[g.pick(len(g.creds))]
	own := func(id string) bool {
		for _, a := range g.accounts {
			for _, u := range a.users {
				if want.status == http.StatusOK && a.id == want.acct && u.id == want.user && u.creds[conn] == id {
					return true
				}
			}
		}
		return false
	}
	ownCred, ownHeader := own(credID), false
	if g.pick(4) == 0 { // a pinned credential header: anything but a candidate is ignored (§12.4)
		h := g.creds[g.pick(len(g.creds))]
		headers = append(headers, "x-credential-id", h)
		ownHeader = own(h)
	}
	var body, tool string
	var args map[string]any
	switch g.pick(12) {
	case 0:
		body = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}`
	case 1:
		body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	case 2:
		tool, args = "list_connectors_alloy", map[string]any{}
	case 3:
		tool, args = "get_connector_resources_alloy", map[string]any{"connectorId": conn}
	case 4:
		tool, args = "get_action_details_alloy", map[string]any{"connectorId": conn, "actionId": "items_get"}
	case 5, 6:
		args = map[string]any{"connectorId": conn, "actionId": "items_get", "parameters": map[string]any{"itemId": strconv.Itoa(g.pick(5))}}
		if g.pick(2) == 0 {
			args["actionId"], args["parameters"] = "notes_create", map[string]any{"text": "n" + strconv.Itoa(g.pick(5))}
		}
		if g.pick(2) == 0 {
			args["credentialId"] = credID
		}
		tool = "execute_action_alloy"
	case 7:
		tool, args = "get_credentials_alloy", map[string]any{}
		if g.pick(2) == 0 {
			args["connectorId"] = conn
		}
	case 8:
		tool, args = "get_credential_metadata_alloy", map[string]any{"connectorId": conn}
	case 9:
		tool, args = "create_credential_alloy", map[string]any{"connectorId": conn, "authenticationType": "apiKey"}
	case 10:
		tool, args = "discover_action_path_alloy", map[string]any{"goal": "widgets memo", "limit": 20}
	default:
		body = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	}
	if tool != "" {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
		body = string(b)
	}
	r, err := mcpTry(g.ts.URL+path, body, headers...)
	if err != nil {
		return err
	}
	if r.DecodeErr != nil {
		return r.DecodeErr
	}
	where := fmt.Sprintf("%s %s (headers %d)", redactToken(path), body, len(headers)/2)

	// No canary that the effective identity may not see, ever.
	for _, m := range canaryRE.FindAllStringSubmatch(string(r.Body), -1) {
		cAcct, cOwner, kind := m[1], m[2], m[3]
		allowed := false
		if want.status == http.StatusOK {
			switch kind {
			case "conn":
				allowed = cAcct == want.acct
			case "srvname", "instr":
				allowed = cAcct == want.server.acct.id && cOwner == want.server.owner
			default:
				allowed = cAcct == want.acct && cOwner == want.user
			}
		}
		if !allowed {
			return fmt.Errorf("%s: leaked %s to %s/%s: %.400s", where, m[0], want.acct, want.user, r.Body)
		}
	}

	// The gateway layer answers as the scenario says.
	if r.Status != want.status {
		return fmt.Errorf("%s: status %d, want %d: %.300s", where, r.Status, want.status, r.Body)
	}
	if want.status != http.StatusOK {
		if r.envCode() != want.code {
			return fmt.Errorf("%s: code %q, want %q", where, r.envCode(), want.code)
		}
		return nil
	}
	accepted.Add(1)
	if tool == "" {
		return nil
	}
	res := r.result()
	if res == nil {
		return fmt.Errorf("%s: no result: %.300s", where, r.Body)
	}
	isErr, _ := res["isError"].(bool)
	sc, _ := res["structuredContent"].(map[string]any)
	e, _ := sc["error"].(map[string]any)
	code, _ := e["code"].(string)

	// Foreign and unknown connectors do not exist.
	if _, takes := args["connectorId"]; takes && !visible {
		if code != "CONNECTOR_NOT_FOUND" {
			return fmt.Errorf("%s: a foreign connector gave %.300s", where, r.Body)
		}
		return nil
	}
	if tool != "execute_action_alloy" || conn == "slack" {
		return nil
	}
	// Executions: an explicit credential of someone else does not exist;
	// otherwise the effective user's own credential is used.
	_, explicit := args["credentialId"]
	switch {
	case explicit && !ownCred && !ownHeader:
		if code != "CREDENTIAL_NOT_FOUND" || e["details"].(map[string]any)["reason"] != "missing" {
			return fmt.Errorf("%s: a foreign credential gave %.300s", where, r.Body)
		}
	case want.user == "admin":
		if code != "CREDENTIAL_NOT_FOUND" {
			return fmt.Errorf("%s: a user without credentials got %.300s", where, r.Body)
		}
	default:
		if isErr || sc["owner"] != canary(want.acct, want.user, "up") {
			return fmt.Errorf("%s: want the upstream answer of %s/%s, got %.300s", where, want.acct, want.user, r.Body)
		}
		executed.Add(1)
	}
	return nil
}
