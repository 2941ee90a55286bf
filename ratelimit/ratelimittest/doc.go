// Package ratelimittest is the contract suite that every ratelimit.Store
// must pass, in memory or shared: exact sliding-window counting,
// all-or-nothing admission under several rules, reset times, atomicity under
// concurrency, key independence and limit changes.
//
// It uses only the times it passes to Admit, all whole milliseconds, so a
// store that keeps millisecond timestamps passes it exactly. Each subtest
// gets a fresh store from newStore and uses keys prefixed with its own name,
// so a store shared between subtests (one Redis database) passes as well.
package ratelimittest
