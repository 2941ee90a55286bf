package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fullDisk fails every write, as stdout redirected to a full disk does.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestStdoutWriteFailureFailsTheCommand: a command whose report cannot be
// written exits 1, so that a script does not take a lost API key (shown
// once) for success.
func TestStdoutWriteFailureFailsTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	def := filepath.Join(dir, "fake.yaml")
	if err := os.WriteFile(def, []byte("id: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "PATCHBAY_MASTER_KEY" {
			return masterKey(12)
		}
		return ""
	}
	// The rows share the data directory and run in order.
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{name: "Version", args: []string{"version"},
			wantStderr: "patchbay: no space left on device\n"},
		{name: "Migrate", args: []string{"migrate", "--data-dir", dir},
			wantStderr: "patchbay: no space left on device\n"},
		{name: "AccountsCreate", args: []string{"accounts", "create", "acme", "--data-dir", dir},
			wantStderr: "patchbay: account acme created, but its admin API key could not be printed: no space left on device\n"},
		{name: "APIKeysCreate", args: []string{"apikeys", "create", "--account", "acme", "--user", "rescue", "--data-dir", dir},
			wantStderr: "patchbay: API key for rescue in acme created, but it could not be printed: no space left on device\n"},
		{name: "AccountsList", args: []string{"accounts", "list", "--data-dir", dir},
			wantStderr: "patchbay: no space left on device\n"},
		{name: "KeysStatus", args: []string{"keys", "status", "--data-dir", dir},
			wantStderr: "patchbay: no space left on device\n"},
		{name: "ConnectorsValidate", args: []string{"connectors", "validate", def},
			wantStderr: "patchbay: no space left on device\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tt.args, getenv, fullDisk{}, &stderr)
			if code != exitRuntime {
				t.Errorf("exit %d, want %d", code, exitRuntime)
			}
			if d := cmp.Diff(tt.wantStderr, stderr.String()); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
}

// TestImportOpenAPIExplainsNothingImported: when no operation survives, the
// warnings say why each was skipped, so the user can fix the document.
func TestImportOpenAPIExplainsNothingImported(t *testing.T) {
	t.Parallel()
	doc := filepath.Join(t.TempDir(), "api.yaml")
	body := `openapi: 3.0.3
info: {title: Uploads, version: "1"}
servers: [{url: "https://api.example.com"}]
paths:
  /files:
    post:
      requestBody: {content: {application/octet-stream: {schema: {type: string, format: binary}}}}
      responses: {'200': {description: ok}}
`
	if err := os.WriteFile(doc, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"connectors", "import-openapi", doc}, func(string) string { return "" }, &stdout, &stderr)
	if code == 0 || stdout.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, stdout.String())
	}
	want := "warning: operation POST /files skipped: unsupported request content type application/octet-stream\n" +
		"patchbay: " + doc + ": no operation of the document could be imported\n"
	if d := cmp.Diff(want, stderr.String()); d != "" {
		t.Errorf("stderr (-want +got):\n%s", d)
	}
}
