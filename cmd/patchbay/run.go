package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/patchbay-mcp/patchbay/vault"
)

// Exit codes of §18.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
	exitKey     = 3
)

// exitError carries the exit code a failure should produce.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// env is what every command receives from main: no globals.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// stderrf writes a diagnostic to stderr. A failed write there has nowhere
// left to be reported, so it is ignored.
func (e *env) stderrf(format string, args ...any) { _, _ = fmt.Fprintf(e.stderr, format, args...) }

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "patchbay",
		Short:         "Patchbay, a self-hosted multi-tenant MCP gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })
	root.AddCommand(serveCmd(e), migrateCmd(e), keysCmd(e), accountsCmd(e), apikeysCmd(e), connectorsCmd(e), versionCmd(e))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	e.stderrf("patchbay: %v\n", err)
	var ee *exitError
	var ke *vault.KeyError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ke):
		return exitKey
	case isUsage(err):
		return exitUsage
	}
	return exitRuntime
}

// isUsage recognises cobra's own usage errors (unknown command, bad args).
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ", "invalid argument"} {
		if len(msg) >= len(p) && contains(msg, p) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
