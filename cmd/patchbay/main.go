// Command patchbay is the Patchbay MCP gateway: `patchbay serve` runs it;
// the other subcommands manage keys, accounts and connectors offline.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// The hot path allocates ~30 KB per MCP call while the live heap stays
	// small; collecting at 200% rather than 100% growth halves GC work for
	// little memory (docs/performance.md). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
