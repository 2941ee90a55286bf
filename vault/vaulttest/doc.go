// Package vaulttest is the contract every vault.KeyStore implementation must
// pass: the sqlite and postgres stores call TestKeyStore from their own tests,
// so both behave alike under the vault.
package vaulttest
