// Package registry resolves the connectors an account can see: the built-in
// catalog (embedded plus --connectors-dir) and the account's custom
// connectors, each compiled once per version, with the discovery index of
// §7.8 built once per catalog version. Lookups on the hot path are map reads.
package registry
