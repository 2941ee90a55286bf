package vault

import (
	"context"
	"errors"
	"time"
)

// Data key statuses. An active version may seal; a retired one only opens
// records that still use it.
const (
	StatusActive  = "active"
	StatusRetired = "retired"
)

// ErrKeyExists is returned by KeyStore.InsertDataKey when the (account,
// version) pair is taken, typically because another instance created the same
// version first.
var ErrKeyExists = errors.New("vault: data key version already exists")

// WrappedKey is a data key as stored: the key itself exists only wrapped by
// the master key whose fingerprint is MasterFingerprint.
type WrappedKey struct {
	AccountID         string
	Version           uint32 // from 1; stores need a column wide enough for 2^32-1
	Wrapped           []byte // nonce(12) || AES-256-GCM ciphertext+tag of the 32-byte key
	MasterFingerprint string // Fingerprint of the wrapping master key
	Status            string // StatusActive or StatusRetired
	Encryptions       uint64 // encryptions reserved so far (an upper bound of those performed)
	CreatedAt         time.Time
}

// KeyStore persists wrapped data keys. The sqlite and postgres packages
// implement it; vaulttest.TestKeyStore is the contract they must pass.
type KeyStore interface {
	// DataKeys returns every version of the account's keys in ascending
	// version order; none is not an error.
	DataKeys(ctx context.Context, accountID string) ([]WrappedKey, error)
	// AllDataKeys returns every key of every account ordered by account ID,
	// then version.
	AllDataKeys(ctx context.Context) ([]WrappedKey, error)
	// InsertDataKey stores k; an error wrapping ErrKeyExists if
	// (k.AccountID, k.Version) exists, in which case nothing changes.
	InsertDataKey(ctx context.Context, k WrappedKey) error
	// RewrapDataKeys replaces Wrapped and MasterFingerprint of the given keys,
	// identified by (AccountID, Version), in one transaction: all or none. A
	// key that does not exist is an error and nothing changes.
	RewrapDataKeys(ctx context.Context, keys []WrappedKey) error
	// SetDataKeyStatus sets the status of one key; an error if it does not
	// exist.
	SetDataKeyStatus(ctx context.Context, accountID string, version uint32, status string) error
	// ReserveEncryptions atomically adds n to the key's Encryptions and
	// returns the new total; an error if the key does not exist.
	ReserveEncryptions(ctx context.Context, accountID string, version uint32, n uint64) (total uint64, err error)
}

// SealedRecord is one stored ciphertext, as seen by rotation. Kind names the
// table or record family for the store ("credential", "server_token", ...);
// RecordID is the record ID of §14 bound into the ciphertext; Ref is opaque to
// the vault and lets a store address the row.
type SealedRecord struct {
	Kind       string
	AccountID  string
	RecordID   string
	Ciphertext []byte
	Ref        string
}

// RecordStore lets rotation walk and rewrite every sealed record of an
// account while the service keeps writing.
type RecordStore interface {
	// SealedRecords returns up to limit records of the account after cursor
	// ("" = from the start) in a stable order, and the cursor of the next
	// page; next is "" at the end.
	SealedRecords(ctx context.Context, accountID, cursor string, limit int) (recs []SealedRecord, next string, err error)
	// ReplaceSealed sets the record's ciphertext to newCiphertext only if it
	// still equals rec.Ciphertext (compare-and-swap); false if it changed or
	// disappeared meanwhile.
	ReplaceSealed(ctx context.Context, rec SealedRecord, newCiphertext []byte) (bool, error)
}
