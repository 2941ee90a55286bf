// Package redis keeps the state that several Patchbay instances share in
// Redis: exact rate-limit windows, signed-request nonces, the encrypted read
// cache, the OAuth refresh lock and cross-instance change notices.
//
// go-redis is imported as goredis and never leaks: callers see only this
// package's types and the consumer interfaces they implement
// (ratelimit.Store, authn.NonceStore, connector.Cache, oauth.Locker).
//
// Everything fails closed. When Redis cannot answer, every method returns an
// error wrapping ErrUnavailable (also a patchbay.Error with code
// UNAVAILABLE) after a short timeout, so callers answer 503 instead of
// silently dropping limits or replay protection; once Redis is back the
// pooled connections re-dial and the next calls succeed without a restart.
package redis
