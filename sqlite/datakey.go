package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/patchbay-mcp/patchbay/vault"
)

var _ vault.KeyStore = (*DB)(nil)

func scanDataKeys(rows *sql.Rows) ([]vault.WrappedKey, error) {
	defer rows.Close()
	var out []vault.WrappedKey
	for rows.Next() {
		var k vault.WrappedKey
		var version, enc, created int64
		if err := rows.Scan(&k.AccountID, &version, &k.Wrapped, &k.MasterFingerprint, &k.Status, &enc, &created); err != nil {
			return nil, err
		}
		k.Version, k.Encryptions, k.CreatedAt = uint32(version), uint64(enc), fromUnix(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

const dataKeyCols = `account_id, version, wrapped, master_fingerprint, status, encryptions, created_at`

// DataKeys returns the account's wrapped keys, oldest version first.
func (s *DB) DataKeys(ctx context.Context, accountID string) ([]vault.WrappedKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+dataKeyCols+` FROM data_keys WHERE account_id = ? ORDER BY version`, accountID)
	if err != nil {
		return nil, err
	}
	return scanDataKeys(rows)
}

// AllDataKeys returns every wrapped key.
func (s *DB) AllDataKeys(ctx context.Context) ([]vault.WrappedKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+dataKeyCols+` FROM data_keys ORDER BY account_id, version`)
	if err != nil {
		return nil, err
	}
	return scanDataKeys(rows)
}

// InsertDataKey stores a new key version.
func (s *DB) InsertDataKey(ctx context.Context, k vault.WrappedKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO data_keys (`+dataKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.AccountID, int64(k.Version), k.Wrapped, k.MasterFingerprint, k.Status, int64(k.Encryptions), unix(k.CreatedAt))
	if err != nil && isUnique(err) {
		return fmt.Errorf("data key %s/%d: %w", k.AccountID, k.Version, vault.ErrKeyExists)
	}
	return err
}

// RewrapDataKeys replaces the wrapping of the given keys atomically.
func (s *DB) RewrapDataKeys(ctx context.Context, keys []vault.WrappedKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ?, master_fingerprint = ? WHERE account_id = ? AND version = ?`,
				k.Wrapped, k.MasterFingerprint, k.AccountID, int64(k.Version))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("data key %s/%d does not exist", k.AccountID, k.Version)
			}
		}
		return nil
	})
}

// SetDataKeyStatus sets a key's status.
func (s *DB) SetDataKeyStatus(ctx context.Context, accountID string, version uint32, status string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE data_keys SET status = ? WHERE account_id = ? AND version = ?`, status, accountID, int64(version))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("data key %s/%d does not exist", accountID, version)
	}
	return nil
}

// ReserveEncryptions adds n to the key's encryption count.
func (s *DB) ReserveEncryptions(ctx context.Context, accountID string, version uint32, n uint64) (uint64, error) {
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE data_keys SET encryptions = encryptions + ? WHERE account_id = ? AND version = ? RETURNING encryptions`,
			int64(n), accountID, int64(version)).Scan(&total)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("data key %s/%d does not exist", accountID, version)
		}
		return err
	})
	return uint64(total), err
}

var _ vault.RecordStore = (*DB)(nil)

// sealedKinds lists every column that holds vault ciphertext, in the order
// rotation walks them. Each query selects (ref, record ID, ciphertext) of
// one account after a ref.
var sealedKinds = []struct {
	kind   string
	query  string
	update string
}{
	{kind: "server_token",
		query:  `SELECT id, id, token_sealed FROM servers WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`,
		update: `UPDATE servers SET token_sealed = ? WHERE account_id = ? AND id = ? AND token_sealed = ?`},
	{kind: "signing_secret",
		query:  `SELECT id, id, signing_secret FROM api_keys WHERE account_id = ? AND id > ? AND signing_secret IS NOT NULL ORDER BY id LIMIT ?`,
		update: `UPDATE api_keys SET signing_secret = ? WHERE account_id = ? AND id = ? AND signing_secret = ?`},
	{kind: "jwt_secret",
		query:  `SELECT printf('%010d', version), 'jwt:hs256-' || version, sealed FROM jwt_secrets WHERE account_id = ? AND printf('%010d', version) > ? ORDER BY version LIMIT ?`,
		update: `UPDATE jwt_secrets SET sealed = ? WHERE account_id = ? AND printf('%010d', version) = ? AND sealed = ?`},
	{kind: "oauth_app",
		query:  `SELECT connector_id, 'oauthapp:' || connector_id, secret_sealed FROM oauth_apps WHERE account_id = ? AND connector_id > ? ORDER BY connector_id LIMIT ?`,
		update: `UPDATE oauth_apps SET secret_sealed = ? WHERE account_id = ? AND connector_id = ? AND secret_sealed = ?`},
	{kind: "flow_verifier",
		query:  `SELECT id, id, verifier_sealed FROM flows WHERE account_id = ? AND id > ? AND verifier_sealed IS NOT NULL ORDER BY id LIMIT ?`,
		update: `UPDATE flows SET verifier_sealed = ? WHERE account_id = ? AND id = ? AND verifier_sealed = ?`},
	{kind: "connector_headers",
		query:  `SELECT id, 'connector:' || id, headers_sealed FROM connectors WHERE account_id = ? AND id > ? AND headers_sealed IS NOT NULL ORDER BY id LIMIT ?`,
		update: `UPDATE connectors SET headers_sealed = ? WHERE account_id = ? AND id = ? AND headers_sealed = ?`},
	{kind: "credential",
		query:  `SELECT id, id, sealed FROM credentials WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`,
		update: `UPDATE credentials SET sealed = ? WHERE account_id = ? AND id = ? AND sealed = ?`},
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
		out, err := s.sealedPage(ctx, k.kind, k.query, accountID, after, limit)
		if err != nil {
			return nil, "", err
		}
		if len(out) > 0 {
			return out, k.kind + ":" + out[len(out)-1].Ref, nil
		}
		after = ""
	}
	return nil, "", nil
}

// sealedPage returns up to limit records of one kind after the ref after.
func (s *DB) sealedPage(ctx context.Context, kind, query, accountID, after string, limit int) ([]vault.SealedRecord, error) {
	rows, err := s.db.QueryContext(ctx, query, accountID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vault.SealedRecord
	for rows.Next() {
		var r vault.SealedRecord
		if err := rows.Scan(&r.Ref, &r.RecordID, &r.Ciphertext); err != nil {
			return nil, err
		}
		r.Kind, r.AccountID = kind, accountID
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReplaceSealed swaps one record's ciphertext if it is unchanged.
func (s *DB) ReplaceSealed(ctx context.Context, rec vault.SealedRecord, newCiphertext []byte) (bool, error) {
	for _, k := range sealedKinds {
		if k.kind != rec.Kind {
			continue
		}
		res, err := s.db.ExecContext(ctx, k.update, newCiphertext, rec.AccountID, rec.Ref, rec.Ciphertext)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		return n == 1, nil
	}
	return false, fmt.Errorf("unknown sealed record kind %q", rec.Kind)
}
