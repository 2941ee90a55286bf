package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the floor forwarder child, as the
// bench binary does when run with the floor environment variable.
func TestMain(m *testing.M) {
	if raw := os.Getenv(floorEnv); raw != "" {
		os.Exit(runFloorChild(raw))
	}
	os.Exit(m.Run())
}
