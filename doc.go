// Package patchbay is the domain vocabulary of the Patchbay MCP gateway: the
// nouns (accounts, API keys, servers, restrictions, connectors, credentials,
// audit events), the rules that need no I/O, and the service interfaces that
// the stores implement.
//
// It imports only the standard library and holds no mutable package state, so
// every other package can depend on it. The contract these types serve is
// ../shared/spec/API.md; docs/architecture.md explains how the packages relate.
package patchbay
