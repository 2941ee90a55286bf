// Package ids draws the random identifiers and secrets of the contract (§2):
// base62 keys and tokens, ULIDs for request and audit IDs. All randomness comes
// from a CSPRNG.
package ids
