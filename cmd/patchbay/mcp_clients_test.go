package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Acceptance point 1: two real MCP clients (the official go-sdk client and
// the inspector CLI) initialize, list tools, discover a custom connector and
// execute an action against a platform fake with a stored credential,
// through (a) the token URL, (b) an API key with x-alloy-userid on
// /mcp/{serverId} and (c) a user JWT on a public server's token URL.

// clientScenario is one way of reaching the MCP face as one user.
type clientScenario struct {
	name     string
	endpoint string
	headers  map[string]string
	canary   string // what the fake answers for this user's credential
	wantAuth string // what the fake must have received
}

// clientWorld is a server with a custom connector on a platform fake and
// one credential per scenario user.
func clientWorld(t *testing.T) (*testServer, *platform, []clientScenario) {
	ts := newTestServer(t, func(c *Config) { c.SSRFAllow = "127.0.0.1" })
	p := newPlatform(t)
	ts.createConnector(connectorDef("acme-fake", "Acme Fake", p.URL))

	// (a) the owner of a private server, through its token URL.
	as := func(user string) []string { return []string{"x-alloy-userid", user} }
	_, tokenURL := ts.mcpServer(map[string]any{"name": "Alice Bot", "customInstructions": "Be brief."}, as("alice")...)
	ts.storeCredential("acme-fake", "apiKey", "sk-alice-1", "", as("alice")...)
	p.expect("sk-alice-1", "canary-alice")

	// (b) an admin API key acting as bob on /mcp/{serverId}.
	bobID, _ := ts.mcpServer(map[string]any{"name": "Bob Bot"}, as("bob")...)
	ts.storeCredential("acme-fake", "bearer", "tok-bob-1", "", as("bob")...)
	p.expect("Bearer tok-bob-1", "canary-bob")

	// (c) a user JWT for carol on a public server's token URL.
	_, publicURL := ts.mcpServer(map[string]any{"name": "Public Bot", "isPublic": true}, as("owner")...)
	ts.storeCredential("acme-fake", "apiKey", "sk-carol-1", "", as("carol")...)
	p.expect("sk-carol-1", "canary-carol")
	jwt := ts.mint("carol", nil)

	return ts, p, []clientScenario{
		{name: "TokenURL", endpoint: tokenURL, canary: "canary-alice", wantAuth: "sk-alice-1"},
		{name: "APIKey", endpoint: ts.URL + "/mcp/" + bobID,
			headers: map[string]string{"Authorization": "Bearer " + ts.AdminKey, "x-alloy-userid": "bob"},
			canary:  "canary-bob", wantAuth: "Bearer tok-bob-1"},
		{name: "UserJWT", endpoint: publicURL, headers: map[string]string{"x-alloy-user-token": jwt},
			canary: "canary-carol", wantAuth: "sk-carol-1"},
	}
}

var metaToolNames = []string{"create_credential_alloy", "discover_action_path_alloy", "execute_action_alloy", "get_action_details_alloy",
	"get_connector_resources_alloy", "get_credential_metadata_alloy", "get_credentials_alloy", "list_connectors_alloy"}

func TestMCPClientGoSDK(t *testing.T) {
	t.Parallel()
	_, p, scenarios := clientWorld(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			cs, ht := sdkSession(t, sc.endpoint, sc.headers)
			ctx := context.Background()
			init := cs.InitializeResult()
			if init.ServerInfo.Name != "patchbay" || init.Capabilities.Tools == nil {
				t.Fatalf("initialize result: %+v", init)
			}
			if sc.name == "TokenURL" && init.Instructions != "Be brief." {
				t.Errorf("instructions %q", init.Instructions)
			}
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			if !slices.Equal(names, metaToolNames) {
				t.Fatalf("tools %v", names)
			}

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_connectors_alloy", Arguments: map[string]any{"query": "acme"}})
			if err != nil || res.IsError {
				t.Fatalf("list_connectors_alloy: %v %+v", err, res)
			}
			if got := structured(t, res); got["count"] != float64(1) || !strings.Contains(fmt.Sprint(got["connectors"]), "acme-fake") {
				t.Fatalf("list_connectors_alloy: %v", got)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "discover_action_path_alloy", Arguments: map[string]any{"goal": "list widgets"}})
			if err != nil || res.IsError {
				t.Fatalf("discover_action_path_alloy: %v %+v", err, res)
			}
			matches, _ := structured(t, res)["matches"].([]any)
			if len(matches) == 0 || matches[0].(map[string]any)["actionId"] != "items_list" ||
				matches[0].(map[string]any)["hasActiveCredential"] != true {
				t.Fatalf("discover_action_path_alloy: %v", matches)
			}

			before := p.callCount()
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "execute_action_alloy", Arguments: map[string]any{
				"connectorId": "acme-fake", "actionId": "items_list", "parameters": map[string]any{"q": "go-sdk " + sc.name}}})
			if err != nil || res.IsError {
				t.Fatalf("execute_action_alloy: %v %+v", err, res)
			}
			got := structured(t, res)
			if got["owner"] != sc.canary || got["query"] != "q=go-sdk+"+sc.name {
				t.Fatalf("execute_action_alloy: %v", got)
			}
			if res.Meta["patchbay/connectorId"] != "acme-fake" || res.Meta["patchbay/upstreamStatus"] != float64(200) {
				t.Errorf("_meta %v", res.Meta)
			}
			if p.callCount() != before+1 {
				t.Fatalf("fake saw %d calls, want 1", p.callCount()-before)
			}
			last := p.lastCall()
			if last.APIKey != sc.wantAuth && last.Auth != sc.wantAuth {
				t.Fatalf("fake got X-Api-Key %q Authorization %q, want %q", last.APIKey, last.Auth, sc.wantAuth)
			}
			// The same call again is a read-cache hit: no upstream call.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "execute_action_alloy", Arguments: map[string]any{
				"connectorId": "acme-fake", "actionId": "items_list", "parameters": map[string]any{"q": "go-sdk " + sc.name}}})
			if err != nil || res.IsError || res.Meta["patchbay/cacheHit"] != true || p.callCount() != before+1 {
				t.Fatalf("cached call: %v %+v (calls %d)", err, res, p.callCount()-before)
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Fatal(err)
			}
			ht.mu.Lock()
			defer ht.mu.Unlock()
			for _, s := range ht.seen {
				if strings.Contains(s, "text/plain") {
					t.Errorf("a response had Content-Type text/plain: %v", ht.seen)
				}
			}
		})
	}
}

// inspector runs the inspector CLI with args and returns its decoded
// JSON output.
func inspector(t *testing.T, dir string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"index.js"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("inspector %v: %v\nstdout: %s\nstderr: %s", args[1:], err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("inspector output is not JSON: %v\n%s", err, stdout.String())
	}
	return out
}

// inspectorTool calls a tool with the inspector and returns its structured
// content; it fails on isError.
func inspectorTool(t *testing.T, dir string, base []string, tool string, args ...string) (map[string]any, map[string]any) {
	t.Helper()
	cmdArgs := append(append([]string{}, base...), "--method", "tools/call", "--tool-name", tool)
	if len(args) > 0 {
		cmdArgs = append(cmdArgs, "--tool-arg")
		cmdArgs = append(cmdArgs, args...)
	}
	out := inspector(t, dir, cmdArgs...)
	if isErr, _ := out["isError"].(bool); isErr {
		t.Fatalf("%s failed: %v", tool, out)
	}
	sc, _ := out["structuredContent"].(map[string]any)
	meta, _ := out["_meta"].(map[string]any)
	return sc, meta
}

func TestMCPClientInspector(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(npmTool(t, "@modelcontextprotocol/inspector-cli"), "build")
	_, p, scenarios := clientWorld(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := []string{sc.endpoint, "--transport", "http"}
			for k, v := range sc.headers {
				base = append(base, "--header", k+": "+v)
			}
			// tools/list (the CLI initializes first on every run).
			out := inspector(t, dir, append(base, "--method", "tools/list")...)
			var names []string
			tools, _ := out["tools"].([]any)
			for _, x := range tools {
				tl := x.(map[string]any)
				names = append(names, tl["name"].(string))
				if _, has := tl["outputSchema"]; has {
					t.Errorf("%s has an outputSchema", tl["name"])
				}
			}
			if !slices.Equal(names, metaToolNames) {
				t.Fatalf("tools %v", names)
			}
			got, _ := inspectorTool(t, dir, base, "list_connectors_alloy", "category=testing")
			if got["count"] != float64(1) || !strings.Contains(fmt.Sprint(got["connectors"]), "acme-fake") {
				t.Fatalf("list_connectors_alloy: %v", got)
			}
			got, _ = inspectorTool(t, dir, base, "get_connector_resources_alloy", "connectorId=acme-fake")
			if got["actionCount"] != float64(4) {
				t.Fatalf("get_connector_resources_alloy: %v", got)
			}
			got, _ = inspectorTool(t, dir, base, "discover_action_path_alloy", "goal=list widgets")
			matches, _ := got["matches"].([]any)
			if len(matches) == 0 || matches[0].(map[string]any)["actionId"] != "items_list" {
				t.Fatalf("discover_action_path_alloy: %v", got)
			}
			before := p.callCount()
			got, meta := inspectorTool(t, dir, base, "execute_action_alloy", "connectorId=acme-fake", "actionId=items_get",
				`parameters={"itemId":"inspector-`+sc.name+`"}`)
			if got["owner"] != sc.canary || got["path"] != "/items/inspector-"+sc.name {
				t.Fatalf("execute_action_alloy: %v", got)
			}
			if meta["patchbay/actionId"] != "items_get" || meta["patchbay/cacheHit"] != false {
				t.Errorf("_meta %v", meta)
			}
			if p.callCount() != before+1 {
				t.Fatalf("fake saw %d calls, want 1", p.callCount()-before)
			}
			if last := p.lastCall(); last.APIKey != sc.wantAuth && last.Auth != sc.wantAuth {
				t.Fatalf("fake got X-Api-Key %q Authorization %q, want %q", last.APIKey, last.Auth, sc.wantAuth)
			}
		})
	}
}
