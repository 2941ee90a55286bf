// Package sqlite is the embedded store: every service interface of the
// domain, on one SQLite file (modernc.org/sqlite, no cgo), with its schema
// managed by embedded goose migrations. It serves one Patchbay instance; the
// postgres package is its multi-instance twin, and both pass storetest.
package sqlite
