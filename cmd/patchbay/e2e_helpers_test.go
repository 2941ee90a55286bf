package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/internal/testenv"
)

// The e2e_*_test.go tests run the real patchbay binary, built once per test
// run into a temporary directory that TestMain removes.

// binary is the lazily built patchbay executable shared by the e2e tests;
// only tests that need it pay for the build.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	// Stops the PostgreSQL and Redis servers of the cluster tests.
	code := testenv.Run(m)
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// patchbayBinary builds the binary on first use.
func patchbayBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "patchbay-e2e-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "patchbay")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// masterKey returns a base64 master key made of one repeated byte.
func masterKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// command runs a one-shot patchbay command with exactly env (no inherited
// PATCHBAY_* variables) and returns its exit code and output.
func command(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(patchbayBinary(t), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// proc is a running `patchbay serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	URL    string
	done   chan struct{}
	code   int
}

var reListening = regexp.MustCompile(`listening on (http://[^ ]+) `)

// serve starts `patchbay serve args...` with exactly env and waits until it
// listens. It fails the test if the process exits first.
func serve(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p, code := tryServe(t, env, args...)
	if p == nil {
		t.Fatalf("serve exited with %d before listening", code)
	}
	return p
}

// tryServe is serve for a start that may fail: it returns nil and the exit
// code when the process exits before listening.
func tryServe(t *testing.T, env []string, args ...string) (*proc, int) {
	t.Helper()
	cmd := exec.Command(patchbayBinary(t), append([]string{"serve"}, args...)...)
	cmd.Env = env
	p := &proc{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("patchbay serve %v output:\n%s", args, p.stderr.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		if m := reListening.FindStringSubmatch(p.stderr.String()); m != nil {
			p.URL = m[1]
			return p, 0
		}
		select {
		case <-p.done:
			t.Logf("serve output:\n%s", p.stderr.String())
			return nil, p.code
		case <-deadline:
			t.Fatalf("serve did not start:\n%s", p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop sends sig and returns the exit code.
func (p *proc) stop(sig syscall.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Fatal("serve did not exit")
	}
	return p.code
}

// client returns a testServer whose call method talks to the process.
func (p *proc) client(adminKey string) *testServer {
	return &testServer{t: p.t, URL: p.URL, AdminKey: adminKey}
}

// serveArgs are the flags every e2e serve uses unless a test needs the
// environment to set them.
func serveArgs(dataDir string, extra ...string) []string {
	return append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--shutdown-drain", "0s", "--log-level", "warn"}, extra...)
}

// localURL maps a URL under publicURL to the process's own address.
func (p *proc) localURL(publicURL, u string) string {
	return p.URL + strings.TrimPrefix(u, publicURL)
}
