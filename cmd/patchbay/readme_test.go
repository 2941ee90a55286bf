package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs the shell blocks of the README's walkthrough
// verbatim, in order, in one bash, against a real `patchbay serve`.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not available")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatal("curl is required by the README walkthrough")
		}
		t.Skip("curl not available")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Walkthrough")
	if start < 0 {
		t.Fatal("README has no Walkthrough section")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) == 0 {
		t.Fatal("the walkthrough has no sh blocks")
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		script.WriteString(b[1])
		script.WriteString("\n")
	}
	key := "pb_ReadmeWalkthroughKey0123456789abcdefghij"
	p := serve(t, []string{"PATCHBAY_MASTER_KEY=" + masterKey(9), "PATCHBAY_BOOTSTRAP_API_KEY=" + key}, serveArgs(t.TempDir())...)
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PB="+p.URL, "KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"serverId"`, `"tools":[`, `"token":"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, out)
		}
	}
}
