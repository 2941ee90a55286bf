// Package vault encrypts secrets at rest with envelope encryption: a master
// key wraps one data key per account and version, and data keys seal records
// with AES-256-GCM bound to account, record and key version (API.md §14).
//
// Only this package ever holds master or data keys in the clear. Stores keep
// wrapped keys (KeyStore) and sealed records (RecordStore); both interfaces
// are declared here and implemented by the sqlite and postgres adapters, which
// run vaulttest.TestKeyStore to prove it.
//
// Failing closed is the rule: a wrong or missing master key is a *KeyError
// (the CLI exits with code 3), and a record that does not authenticate is
// ErrDecrypt, never partially decrypted data.
package vault
