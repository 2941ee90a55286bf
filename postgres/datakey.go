package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay-mcp/patchbay/vault"
)

var _ vault.KeyStore = (*DB)(nil)

const dataKeyCols = `account_id, version, wrapped, master_fingerprint, status, encryptions, created_at`

// Versions are uint32 and counters uint64; both live in BIGINT. Counters
// never get near 2^63: the vault retires a key before 2^32 encryptions.
func scanDataKey(r rowScanner) (vault.WrappedKey, error) {
	var (
		k                     vault.WrappedKey
		version, enc, created int64
	)
	if err := r.Scan(&k.AccountID, &version, &k.Wrapped, &k.MasterFingerprint, &k.Status, &enc, &created); err != nil {
		return k, err
	}
	k.Version, k.Encryptions, k.CreatedAt = uint32(version), uint64(enc), fromUnix(created)
	return k, nil
}

// DataKeys returns the account's wrapped keys, oldest version first.
func (s *DB) DataKeys(ctx context.Context, accountID string) ([]vault.WrappedKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dataKeyCols+` FROM data_keys WHERE account_id = $1 ORDER BY version`, accountID)
	out, err := collect(rows, err, scanDataKey)
	return out, storeErr(err)
}

// AllDataKeys returns every wrapped key.
func (s *DB) AllDataKeys(ctx context.Context) ([]vault.WrappedKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dataKeyCols+` FROM data_keys ORDER BY account_id, version`)
	out, err := collect(rows, err, scanDataKey)
	return out, storeErr(err)
}

// InsertDataKey stores a new key version. Of several instances creating the
// same version, the primary key lets exactly one win.
func (s *DB) InsertDataKey(ctx context.Context, k vault.WrappedKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO data_keys (`+dataKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.AccountID, int64(k.Version), notNullBytes(k.Wrapped), k.MasterFingerprint, k.Status, int64(k.Encryptions), unix(k.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("data key %s/%d: %w", k.AccountID, k.Version, vault.ErrKeyExists)
	}
	return storeErr(err)
}

// RewrapDataKeys replaces the wrapping of the given keys atomically, sent as
// one batch.
func (s *DB) RewrapDataKeys(ctx context.Context, keys []vault.WrappedKey) error {
	if len(keys) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, k := range keys {
		b.Queue(`UPDATE data_keys SET wrapped = $1, master_fingerprint = $2 WHERE account_id = $3 AND version = $4`,
			notNullBytes(k.Wrapped), k.MasterFingerprint, k.AccountID, int64(k.Version))
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		res := tx.SendBatch(ctx, &b)
		for _, k := range keys {
			tag, err := res.Exec()
			if err != nil {
				_ = res.Close() // the failed statement's error is the one to report
				return err
			}
			if tag.RowsAffected() != 1 {
				_ = res.Close() // the missing key is the error to report; tx rolls back
				return fmt.Errorf("data key %s/%d does not exist", k.AccountID, k.Version)
			}
		}
		return res.Close()
	})
}

// SetDataKeyStatus sets a key's status.
func (s *DB) SetDataKeyStatus(ctx context.Context, accountID string, version uint32, status string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE data_keys SET status = $1 WHERE account_id = $2 AND version = $3`, status, accountID, int64(version))
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("data key %s/%d does not exist", accountID, version)
	}
	return nil
}

// ReserveEncryptions adds n to the key's encryption count. The UPDATE is
// atomic, so instances reserving at once get disjoint ranges.
func (s *DB) ReserveEncryptions(ctx context.Context, accountID string, version uint32, n uint64) (uint64, error) {
	var total int64
	err := s.pool.QueryRow(ctx, `UPDATE data_keys SET encryptions = encryptions + $1 WHERE account_id = $2 AND version = $3 RETURNING encryptions`,
		int64(n), accountID, int64(version)).Scan(&total)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("data key %s/%d does not exist", accountID, version)
	}
	if err != nil {
		return 0, storeErr(err)
	}
	return uint64(total), nil
}

var _ vault.RecordStore = (*DB)(nil)

// sealedKinds lists every column that holds vault ciphertext, in the order
// rotation walks them. Each query selects (ref, record ID, ciphertext) of
// one account after a ref; the ID columns use the "C" collation, so the
// order is the bytes' and the cursor is stable.
var sealedKinds = []struct {
	kind   string
	query  string
	update string
}{
	{kind: "server_token",
		query:  `SELECT id, id, token_sealed FROM servers WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		update: `UPDATE servers SET token_sealed = $1 WHERE account_id = $2 AND id = $3 AND token_sealed = $4`},
	{kind: "signing_secret",
		query:  `SELECT id, id, signing_secret FROM api_keys WHERE account_id = $1 AND id > $2 AND signing_secret IS NOT NULL ORDER BY id LIMIT $3`,
		update: `UPDATE api_keys SET signing_secret = $1 WHERE account_id = $2 AND id = $3 AND signing_secret = $4`},
	// The ref of a JWT secret is its version zero-padded to 10 digits (2^32
	// fits), so that text order is numeric order.
	{kind: "jwt_secret",
		query: `SELECT lpad(version::text, 10, '0') COLLATE "C", 'jwt:hs256-' || version, sealed FROM jwt_secrets
			WHERE account_id = $1 AND lpad(version::text, 10, '0') COLLATE "C" > $2 ORDER BY version LIMIT $3`,
		update: `UPDATE jwt_secrets SET sealed = $1 WHERE account_id = $2 AND lpad(version::text, 10, '0') = $3 AND sealed = $4`},
	{kind: "oauth_app",
		query:  `SELECT connector_id, 'oauthapp:' || connector_id, secret_sealed FROM oauth_apps WHERE account_id = $1 AND connector_id > $2 ORDER BY connector_id LIMIT $3`,
		update: `UPDATE oauth_apps SET secret_sealed = $1 WHERE account_id = $2 AND connector_id = $3 AND secret_sealed = $4`},
	{kind: "flow_verifier",
		query:  `SELECT id, id, verifier_sealed FROM flows WHERE account_id = $1 AND id > $2 AND verifier_sealed IS NOT NULL ORDER BY id LIMIT $3`,
		update: `UPDATE flows SET verifier_sealed = $1 WHERE account_id = $2 AND id = $3 AND verifier_sealed = $4`},
	{kind: "connector_headers",
		query:  `SELECT id, 'connector:' || id, headers_sealed FROM connectors WHERE account_id = $1 AND id > $2 AND headers_sealed IS NOT NULL ORDER BY id LIMIT $3`,
		update: `UPDATE connectors SET headers_sealed = $1 WHERE account_id = $2 AND id = $3 AND headers_sealed = $4`},
	{kind: "credential",
		query:  `SELECT id, id, sealed FROM credentials WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		update: `UPDATE credentials SET sealed = $1 WHERE account_id = $2 AND id = $3 AND sealed = $4`},
}

// SealedRecords pages through every sealed record of an account. The
// cursor is "<kind>:<ref>".
func (s *DB) SealedRecords(ctx context.Context, accountID, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	start, after := 0, ""
	if cursor != "" {
		kind, ref, _ := strings.Cut(cursor, ":")
		for i, k := range sealedKinds {
			if k.kind == kind {
				start, after = i, ref
			}
		}
	}
	for i := start; i < len(sealedKinds); i++ {
		k := sealedKinds[i]
		rows, err := s.pool.Query(ctx, k.query, accountID, after, limit)
		out, err := collect(rows, err, func(r rowScanner) (vault.SealedRecord, error) {
			rec := vault.SealedRecord{Kind: k.kind, AccountID: accountID}
			err := r.Scan(&rec.Ref, &rec.RecordID, &rec.Ciphertext)
			return rec, err
		})
		if err != nil {
			return nil, "", storeErr(err)
		}
		if len(out) > 0 {
			return out, k.kind + ":" + out[len(out)-1].Ref, nil
		}
		after = ""
	}
	return nil, "", nil
}

// ReplaceSealed swaps one record's ciphertext if it is unchanged; the
// comparison in the WHERE clause makes it a compare-and-swap across
// instances.
func (s *DB) ReplaceSealed(ctx context.Context, rec vault.SealedRecord, newCiphertext []byte) (bool, error) {
	for _, k := range sealedKinds {
		if k.kind != rec.Kind {
			continue
		}
		tag, err := s.pool.Exec(ctx, k.update, newCiphertext, rec.AccountID, rec.Ref, rec.Ciphertext)
		if err != nil {
			return false, storeErr(err)
		}
		return tag.RowsAffected() == 1, nil
	}
	return false, fmt.Errorf("unknown sealed record kind %q", rec.Kind)
}
