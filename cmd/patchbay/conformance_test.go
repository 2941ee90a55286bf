package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// npmTool returns the path of a pinned npm tool under tools/npm, or skips
// the test when Node.js or the package is missing. With PATCHBAY_CI=1 a
// missing tool fails the test instead: CI must run it.
func npmTool(t *testing.T, rel string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "tools", "npm", "node_modules", rel))
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(path)
	_, nodeErr := exec.LookPath("node")
	if statErr != nil || nodeErr != nil {
		msg := "npm test tools are not installed (run: npm ci --prefix tools/npm): " + rel
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// TestConformance runs the MCP conformance suite against a connectivity
// server's token URL (§6.8). The baseline lists the scenarios a tools-only
// stateless server cannot pass; the runner fails on an unexpected failure
// and on a stale baseline entry. Its noisy output goes to a file that is
// shown only on failure.
func TestConformance(t *testing.T) {
	runner := npmTool(t, "@modelcontextprotocol/conformance/dist/index.js")
	ts := newTestServer(t)
	r := ts.call("POST", "/api/servers", map[string]any{"name": "Conformance", "rateLimit": map[string]any{"requestsPerMinute": 100000}})
	r.want(t, 201)
	baseline, _ := filepath.Abs(filepath.Join("..", "..", "gateway", "testdata", "conformance-baseline.yml"))
	out := filepath.Join(t.TempDir(), "conformance.log")
	logf, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(t.Context(), "node", runner, "server", "--url", r.str("accessUrl"),
		"--expected-failures", baseline, "-o", filepath.Join(t.TempDir(), "results"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = t.TempDir()
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("conformance suite did not finish in 5 minutes")
	}
	if err != nil {
		log, _ := os.ReadFile(out)
		t.Fatalf("conformance suite failed (%v):\n%s", err, log)
	}
}
