// Package testenv starts real PostgreSQL and Redis servers for tests: one
// server of each kind per test process, started on first use, with a fresh
// database (PostgreSQL) or logical database (Redis) per test. Packages that
// use it call Main from their TestMain so that the servers stop when the
// tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Where a server cannot be found or started, tests that ask for it are
// skipped, or fail when PATCHBAY_CI=1. PATCHBAY_TEST_POSTGRES_DSN and
// PATCHBAY_TEST_REDIS_URL point the helpers at existing servers instead.
package testenv
