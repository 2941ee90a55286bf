// Package storetest is the contract suite that every store (sqlite,
// postgres) must pass: each service method, its ordering and its error codes,
// run against a real database.
package storetest
