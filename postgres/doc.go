// Package postgres is the multi-instance store: every service interface of
// the domain on PostgreSQL (pgx, no database/sql), with its schema managed by
// embedded goose migrations. It is the sqlite package's twin, file for file,
// and both pass storetest; where SQLite relies on its single writer, this
// package uses row locks, unique indexes and single-statement
// compare-and-swaps so that several Patchbay instances can share a database.
package postgres
