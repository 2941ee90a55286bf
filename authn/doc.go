// Package authn verifies who is calling: it holds the cryptographic
// primitives that turn an API key, a user JWT or a request signature into
// proof of identity, following §4 of the API contract.
//
// The files here are pure building blocks with no store behind them:
//
//   - apikey.go: API key format, SHA-256 lookup hash and the Bearer header (§4.2, §4.3);
//   - jwt.go, jwks.go: user JWT verification with the account's HS256 secrets and
//     registered public keys (§4.4, §4.5);
//   - mint.go: the HS256 tokens of POST /api/users/{userId}/token (§4.4);
//   - signature.go, nonce.go: request signing and replay protection (§4.6).
//
// Verification deliberately does not delegate policy to golang-jwt's parser:
// the contract pins the algorithm to the key, forbids crit, and fixes the
// segment encoding, leeway and lifetime, so those rules are implemented here
// and golang-jwt only computes public-key signatures. Every failure is a
// *patchbay.Error with code UNAUTHORIZED, the message "Invalid or missing
// authentication" and a details.reason; the underlying cause is kept for logs
// only and never contains token or secret material.
package authn
