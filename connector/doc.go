// Package connector loads, validates and runs connector definitions: it turns
// a YAML or JSON definition (§11.1) into a checked patchbay.Connector,
// compiles it once per version into binding plans and JSON Schemas, and
// executes actions against the SaaS upstream (§11.3) with the retry, redirect,
// redaction and error rules of the contract. It also provides the building
// blocks of the read cache (§10.4): an in-memory LRU, RFC 8785
// canonicalization and key derivation.
//
// Everything expensive (schema compilation, template parsing, regexp
// compilation) happens in Compile; Execute does only per-call work.
package connector
