// Package ratelimit admits or refuses requests with an exact sliding-window
// limit per key (API contract §9): a request is admitted iff fewer than N
// admitted requests of its key fall within the window before it, and the
// check-and-count is atomic, so no interleaving of concurrent requests ever
// admits more than N in any window.
//
// The Limiter holds the clock and the window; a Store holds the windows. The
// MemoryStore here serves a single process; a shared store (Redis) implements
// the same Store interface, and both must pass the contract suite in
// package ratelimittest.
package ratelimit
