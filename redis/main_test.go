package redis_test

import (
	"testing"

	"github.com/patchbay-mcp/patchbay/internal/testenv"
)

// TestMain stops the redis-servers testenv started once the tests end.
func TestMain(m *testing.M) { testenv.Main(m) }
