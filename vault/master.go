package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Master-key sources (API.md §14, §18.1).
const (
	EnvMasterKey          = "PATCHBAY_MASTER_KEY"
	EnvPreviousMasterKey  = "PATCHBAY_MASTER_KEY_PREVIOUS"
	MasterKeyFile         = "master.key"
	PreviousMasterKeyFile = "master.key.previous"
)

// KeySize is the size in bytes of master and data keys (AES-256).
const KeySize = 32

// KeyError reasons.
const (
	ReasonMissing     = "missing"      // encrypted data exists but no master key is configured
	ReasonInvalid     = "invalid"      // a configured master key is not 32 bytes of base64
	ReasonMismatch    = "mismatch"     // data keys are wrapped under a master key that is not configured
	ReasonCheckFailed = "check_failed" // a data key with a matching fingerprint does not unwrap
)

// KeyError is the fail-closed error: the master key is missing or wrong, so
// nothing encrypted can be trusted. The CLI exits with code 3 on it. Message
// names the problem and never contains key material.
type KeyError struct {
	Reason  string // one of the Reason constants
	Message string
	Err     error // underlying cause (file system errors), if any
}

func (e *KeyError) Error() string {
	if e.Err != nil {
		return "encryption key: " + e.Message + ": " + e.Err.Error()
	}
	return "encryption key: " + e.Message
}

func (e *KeyError) Unwrap() error { return e.Err }

// ParseMasterKey decodes a master key: 32 bytes in base64, standard or URL
// alphabet, padding optional, surrounding white space ignored. Errors never
// echo the input.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		// The decoder's error carries an offset into the secret; drop it.
		return nil, errors.New("master key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// EncodeMasterKey is the file and environment form of a master key: standard
// base64 with padding.
func EncodeMasterKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// Fingerprint identifies a master key without revealing it: the first 8 hex
// characters of its SHA-256.
func Fingerprint(master []byte) string {
	sum := sha256.Sum256(master)
	return hex.EncodeToString(sum[:4])
}

// LoadMaster finds the master key: PATCHBAY_MASTER_KEY, else
// <dataDir>/master.key. When neither exists and the database holds no
// encrypted data, it generates a key, writes it to master.key with mode 0600
// (creating dataDir) and reports generated; when encrypted data exists it
// fails with a *KeyError instead. previous comes from
// PATCHBAY_MASTER_KEY_PREVIOUS, else master.key.previous, and is nil when
// neither exists. warnings are for the caller to log (for example a key file
// readable by group or others). getenv is os.Getenv outside tests.
func LoadMaster(getenv func(string) string, dataDir string, hasEncryptedData bool) (master, previous []byte, generated bool, warnings []string, err error) {
	master, found, warnings, err := loadKey(getenv, EnvMasterKey, filepath.Join(dataDir, MasterKeyFile), warnings)
	if err != nil {
		return nil, nil, false, warnings, err
	}
	if !found {
		if hasEncryptedData {
			return nil, nil, false, warnings, &KeyError{Reason: ReasonMissing, Message: fmt.Sprintf(
				"the database holds encrypted data but no master key is configured (set %s or provide %s)",
				EnvMasterKey, filepath.Join(dataDir, MasterKeyFile))}
		}
		master, err = generateMasterFile(dataDir)
		if err != nil {
			return nil, nil, false, warnings, err
		}
		generated = true
	}
	previous, _, warnings, err = loadKey(getenv, EnvPreviousMasterKey, filepath.Join(dataDir, PreviousMasterKeyFile), warnings)
	if err != nil {
		return nil, nil, false, warnings, err
	}
	return master, previous, generated, warnings, nil
}

// loadKey reads one key from the environment variable env, else from path.
func loadKey(getenv func(string) string, env, path string, warnings []string) (key []byte, found bool, _ []string, err error) {
	if s := getenv(env); s != "" {
		key, err := ParseMasterKey(s)
		if err != nil {
			return nil, false, warnings, &KeyError{Reason: ReasonInvalid, Message: env + ": " + err.Error()}
		}
		return key, true, warnings, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, warnings, nil
	}
	if err != nil {
		return nil, false, warnings, &KeyError{Reason: ReasonMissing, Message: "cannot read " + path, Err: err}
	}
	key, err = ParseMasterKey(string(b))
	clear(b)
	if err != nil {
		return nil, false, warnings, &KeyError{Reason: ReasonInvalid, Message: path + ": " + err.Error()}
	}
	if w := permissionWarning(path); w != "" {
		warnings = append(warnings, w)
	}
	return key, true, warnings, nil
}

func permissionWarning(path string) string {
	if runtime.GOOS == "windows" { // permission bits are synthetic there
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("master key file %s is readable by group or others (mode %#o); run chmod 600 on it",
		path, fi.Mode().Perm())
}

// generateMasterFile creates <dataDir>/master.key with a fresh key. O_EXCL
// keeps two instances starting at once on one data directory from each
// writing a different key: the loser reads the winner's file.
func generateMasterFile(dataDir string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, &KeyError{Reason: ReasonMissing, Message: "cannot read " + path, Err: err}
		}
		key, err := ParseMasterKey(string(b))
		if err != nil {
			return nil, &KeyError{Reason: ReasonInvalid, Message: path + ": " + err.Error()}
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	if err := writeKey(f, key); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write master key file %s: %w", path, err)
	}
	return key, nil
}

func writeKey(f *os.File, key []byte) error {
	_, err := f.WriteString(EncodeMasterKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// InstallMasterFile installs newMaster as <dataDir>/master.key (mode 0600)
// after a file-based master-key rotation, keeping the old file as
// master.key.previous (§18.3). Call it only after RotateMaster succeeded.
func InstallMasterFile(dataDir string, newMaster []byte) error {
	if len(newMaster) != KeySize {
		return &KeyError{Reason: ReasonInvalid, Message: fmt.Sprintf("new master key has %d bytes, want %d", len(newMaster), KeySize)}
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	f, err := os.CreateTemp(dataDir, ".master.key.new-*")
	if err != nil {
		return fmt.Errorf("install master key: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("install master key: %w", err)
	}
	if err := writeKey(f, newMaster); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("install master key: %w", err)
	}
	if err := os.Rename(path, filepath.Join(dataDir, PreviousMasterKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = os.Remove(tmp)
		return fmt.Errorf("install master key: keep previous: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install master key: %w", err)
	}
	return nil
}
