package vault_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay/vault"
)

// keyN is a distinct test master key per n.
func keyN(n byte) []byte {
	k := make([]byte, vault.KeySize)
	for i := range k {
		k[i] = n*31 + byte(i)*7
	}
	copy(k, []byte{0xfb, 0xef, 0xff}) // base64 "++//", URL "--__": both alphabets differ
	return k
}

func TestParseMasterKey(t *testing.T) {
	key := keyN(1)
	std, url := base64.StdEncoding.EncodeToString(key), base64.URLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key %q does not exercise both alphabets", std)
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "StdPadded", in: std},
		{name: "StdUnpadded", in: strings.TrimRight(std, "=")},
		{name: "URLPadded", in: url},
		{name: "URLUnpadded", in: strings.TrimRight(url, "=")},
		{name: "SurroundingWhitespace", in: " \t" + std + "\r\n"},
		{name: "TooShort", in: base64.StdEncoding.EncodeToString(key[:16]), wantErr: true},
		{name: "TooLong", in: base64.StdEncoding.EncodeToString(append(key, 1)), wantErr: true},
		{name: "NotBase64", in: strings.Replace(std, std[3:4], "*", 1), wantErr: true},
		{name: "MixedAlphabets", in: "+" + url[1:], wantErr: true},
		{name: "Hex", in: strings.Repeat("ab", 32), wantErr: true},
		{name: "Empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vault.ParseMasterKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[:8]) {
					t.Fatalf("error %q echoes the key", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("ParseMasterKey = %x, %v; want the key", got, err)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256 of 32 zero bytes is 66687aad...
	if got := vault.Fingerprint(make([]byte, 32)); got != "66687aad" {
		t.Fatalf("Fingerprint(zero key) = %q, want 66687aad", got)
	}
}

func TestLoadMaster(t *testing.T) {
	cur, prev := keyN(1), keyN(2)
	enc := vault.EncodeMasterKey
	type file struct {
		content string
		mode    os.FileMode
	}
	type want struct {
		Master, Previous []byte
		Generated        bool
		Warnings         int
		Reason           string // KeyError reason; "" for success
	}
	tests := []struct {
		name      string
		env       map[string]string
		files     map[string]file
		encrypted bool
		want      want
	}{
		{name: "Env", env: map[string]string{vault.EnvMasterKey: enc(cur)},
			want: want{Master: cur}},
		{name: "EnvBeatsFile", env: map[string]string{vault.EnvMasterKey: enc(cur)},
			files: map[string]file{vault.MasterKeyFile: {enc(prev), 0o600}}, want: want{Master: cur}},
		{name: "File", files: map[string]file{vault.MasterKeyFile: {enc(cur) + "\n", 0o600}},
			encrypted: true, want: want{Master: cur}},
		{name: "FileReadableByOthersWarns", files: map[string]file{vault.MasterKeyFile: {enc(cur), 0o644}},
			want: want{Master: cur, Warnings: 1}},
		{name: "PreviousFromEnv", env: map[string]string{vault.EnvMasterKey: enc(cur), vault.EnvPreviousMasterKey: enc(prev)},
			want: want{Master: cur, Previous: prev}},
		{name: "PreviousFromFile", files: map[string]file{
			vault.MasterKeyFile: {enc(cur), 0o600}, vault.PreviousMasterKeyFile: {enc(prev), 0o640}},
			want: want{Master: cur, Previous: prev, Warnings: 1}},
		{name: "InvalidEnv", env: map[string]string{vault.EnvMasterKey: enc(cur)[:20]},
			want: want{Reason: vault.ReasonInvalid}},
		{name: "InvalidFile", files: map[string]file{vault.MasterKeyFile: {"not a key", 0o600}},
			want: want{Reason: vault.ReasonInvalid}},
		{name: "InvalidPrevious", env: map[string]string{vault.EnvMasterKey: enc(cur), vault.EnvPreviousMasterKey: "x"},
			want: want{Reason: vault.ReasonInvalid}},
		{name: "MissingWithEncryptedData", encrypted: true, want: want{Reason: vault.ReasonMissing}},
		{name: "Generated", want: want{Generated: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data", "nested")
			if tt.files != nil {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for name, f := range tt.files {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(f.content), f.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, f.mode); err != nil { // beat the umask
					t.Fatal(err)
				}
			}
			master, previous, generated, warnings, err := vault.LoadMaster(func(k string) string { return tt.env[k] }, dir, tt.encrypted)
			got := want{Master: master, Previous: previous, Generated: generated, Warnings: len(warnings)}
			var ke *vault.KeyError
			if errors.As(err, &ke) {
				got.Reason = ke.Reason
			} else if err != nil {
				t.Fatalf("LoadMaster error %v is not a *KeyError", err)
			}
			if err != nil {
				for _, k := range [][]byte{cur, prev} {
					if strings.Contains(err.Error(), enc(k)[:10]) {
						t.Fatalf("error %q contains key material", err)
					}
				}
			}
			path := filepath.Join(dir, vault.MasterKeyFile)
			if tt.want.Generated {
				if len(master) != vault.KeySize {
					t.Fatalf("generated master has %d bytes", len(master))
				}
				fi, err := os.Stat(path)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("generated key file: %v, %v; want mode 0600", fi, err)
				}
				b, _ := os.ReadFile(path)
				if onDisk, err := vault.ParseMasterKey(string(b)); err != nil || !bytes.Equal(onDisk, master) {
					t.Fatal("generated key file does not hold the returned key")
				}
				got.Master = nil // random
				// The next start reads the same key instead of generating another.
				again, _, gen2, _, err := vault.LoadMaster(func(string) string { return "" }, dir, true)
				if err != nil || gen2 || !bytes.Equal(again, master) {
					t.Fatalf("second LoadMaster = generated %v, %v; want the generated key", gen2, err)
				}
			}
			if tt.want.Reason == vault.ReasonMissing {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a key file was created despite encrypted data: %v", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("LoadMaster (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInstallMasterFile(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := keyN(1), keyN(2)
	if err := os.WriteFile(filepath.Join(dir, vault.MasterKeyFile), []byte(vault.EncodeMasterKey(oldKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := vault.InstallMasterFile(dir, newKey); err != nil {
		t.Fatal(err)
	}
	master, previous, _, warnings, err := vault.LoadMaster(func(string) string { return "" }, dir, true)
	if err != nil || !bytes.Equal(master, newKey) || !bytes.Equal(previous, oldKey) || len(warnings) != 0 {
		t.Fatalf("after install: master ok %v, previous ok %v, warnings %q, %v",
			bytes.Equal(master, newKey), bytes.Equal(previous, oldKey), warnings, err)
	}
	if err := vault.InstallMasterFile(dir, newKey[:5]); err == nil {
		t.Fatal("installing a 5-byte key succeeded")
	}
}
