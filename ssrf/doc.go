// Package ssrf decides which outbound destinations Patchbay may connect to and
// enforces that decision at dial time (API contract §15).
//
// Two checks cooperate. CheckURL is pure: it rejects schemes, userinfo, denied
// names and denied or non-canonical IP literals without touching DNS, so it can
// run when a connector, OAuth app or MCP URL is saved. DialContext runs on every
// new connection: it resolves the host once, refuses the connection if any
// resolved address is denied, and dials only the checked addresses, so a DNS
// answer that changes between the save-time check and the request (DNS
// rebinding) cannot reach a private address.
//
// Every refusal wraps ErrBlocked and never names a resolved address, so callers
// map it to UPSTREAM_ERROR (reason "destination_blocked") or a 400 at save time
// with errors.Is, and internal topology does not leak to tenants.
package ssrf
