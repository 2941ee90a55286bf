// Package authntest holds the contract tests that every authn.NonceStore
// implementation (memory, SQLite, Postgres, Redis) must pass.
package authntest
