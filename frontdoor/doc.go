// Package frontdoor holds the HTTP concerns both faces share: request IDs,
// panic recovery, the Host and Origin checks and CORS of §17.3, access logs
// without secrets, HTTP metrics, and the contract's error envelope (§3.1).
// wire.go wraps the whole mux with Handler; httpapi and gateway write their
// errors with WriteError.
package frontdoor
