package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by the Redis helpers.
const (
	// RedisURLEnv names an existing Redis to use instead of starting one.
	// Redis(t) then returns it unchanged to every caller: it is shared, so
	// callers must keep their keys and channels apart (the redis package's
	// Options.Prefix), and nothing is flushed.
	RedisURLEnv = "PATCHBAY_TEST_REDIS_URL"
	// CIEnv set to "1" turns a missing redis-server from a skip into a
	// failure.
	CIEnv = "PATCHBAY_CI"
)

// redisDatabases is how many logical databases the shared server offers;
// callers hold one each until their test ends, so this bounds how many
// tests may use Redis at the same moment in one process.
const redisDatabases = 128

// redisReadyTimeout bounds how long a started redis-server may take to
// answer PING.
const redisReadyTimeout = 10 * time.Second

// redisState is the one piece of process-wide state here: a test process
// starts one shared redis-server, however many tests ask for it, and
// StopAll must find every server this process started.
var redisState struct {
	startMu sync.Mutex // held while the shared server starts

	mu     sync.Mutex // guards the rest
	shared *RedisProc
	live   map[*RedisProc]struct{}
	free   []int // flushed databases of the shared server
	next   int   // next never-used database
}

// Redis returns the redis:// URL of a real Redis for t. With
// PATCHBAY_TEST_REDIS_URL set it returns that URL (see RedisURLEnv).
// Otherwise it starts redis-server (from PATH) once per test process and
// gives t a logical database of its own, empty, which is flushed and
// reused after t ends. Pub/sub channels are not per database: tests that
// subscribe should still use their own channel or key prefix.
//
// Without redis-server it skips t, or fails it when PATCHBAY_CI=1.
func Redis(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(RedisURLEnv); u != "" {
		return u
	}
	bin := redisBinary(t)

	redisState.startMu.Lock()
	redisState.mu.Lock()
	p := redisState.shared
	redisState.mu.Unlock()
	if p == nil {
		var err error
		if p, err = startRedis(nil, bin); err != nil {
			redisState.startMu.Unlock()
			t.Fatalf("testenv: start shared redis-server: %v", err)
		}
		redisState.mu.Lock()
		redisState.shared = p
		redisState.free, redisState.next = nil, 1
		redisState.mu.Unlock()
	}
	redisState.startMu.Unlock()

	redisState.mu.Lock()
	var db int
	switch {
	case len(redisState.free) > 0:
		db = redisState.free[len(redisState.free)-1]
		redisState.free = redisState.free[:len(redisState.free)-1]
	case redisState.next < redisDatabases:
		db = redisState.next
		redisState.next++
	default:
		redisState.mu.Unlock()
		t.Fatalf("testenv: all %d Redis databases are in use by running tests", redisDatabases-1)
	}
	redisState.mu.Unlock()

	t.Cleanup(func() {
		// Only a database known to be empty goes back to the pool.
		if err := redisCommand(p.Addr(), "SELECT "+strconv.Itoa(db), "FLUSHDB"); err != nil {
			return
		}
		redisState.mu.Lock()
		if redisState.shared == p {
			redisState.free = append(redisState.free, db)
		}
		redisState.mu.Unlock()
	})
	return fmt.Sprintf("redis://%s/%d", p.Addr(), db)
}

// RedisServer starts a redis-server of t's own, stopped when t ends, for
// tests that take Redis away and bring it back (Stop, Start). It always
// starts a local server, also when PATCHBAY_TEST_REDIS_URL is set, and
// skips or fails like Redis when redis-server is missing.
func RedisServer(t testing.TB) *RedisProc {
	t.Helper()
	bin := redisBinary(t)
	p, err := startRedis(t, bin)
	if err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	t.Cleanup(p.close)
	return p
}

// StopAll kills every redis-server this process started. Call it from
// TestMain after m.Run; without it the servers still die with the process
// on Linux (parent-death signal), but only when it exits.
func StopAll() {
	redisState.mu.Lock()
	procs := make([]*RedisProc, 0, len(redisState.live))
	for p := range redisState.live {
		procs = append(procs, p)
	}
	redisState.shared = nil
	redisState.mu.Unlock()
	for _, p := range procs {
		p.close()
	}
}

func redisBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	msg := "testenv: redis-server not found on PATH (apt-get install redis-server, or set " + RedisURLEnv + ")"
	if os.Getenv(CIEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// RedisProc is a redis-server process on a fixed loopback port, without
// persistence: Stop loses its data, as a crash would.
type RedisProc struct {
	t    testing.TB // reports Stop and Start failures; nil for the shared server
	bin  string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	log    *tailBuffer
}

// Addr returns host:port.
func (p *RedisProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// URL returns the redis:// URL of database 0.
func (p *RedisProc) URL() string { return "redis://" + p.Addr() + "/0" }

// Stop kills the server (as a crash would: clients see their connections
// reset) and waits until it is gone. Stopping a stopped server does
// nothing.
func (p *RedisProc) Stop() {
	if p.t != nil {
		p.t.Helper()
	}
	p.kill()
}

// Start starts the server again on the same port, empty, and waits until it
// answers. Starting a running server does nothing.
func (p *RedisProc) Start() {
	if p.t != nil {
		p.t.Helper()
	}
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		return
	}
	if err := p.spawn(); err != nil && p.t != nil {
		p.t.Fatalf("testenv: restart redis-server on port %d: %v", p.port, err)
	}
}

// Pause freezes the server (SIGSTOP): connections stay open and new ones
// are still accepted by the kernel, but nothing is answered, as with a
// hung or partitioned server. Resume undoes it.
func (p *RedisProc) Pause() { p.signal("STOP") }

// Resume lets a paused server run again (SIGCONT).
func (p *RedisProc) Resume() { p.signal("CONT") }

// signal sends a job-control signal through kill(1): package syscall has no
// SIGSTOP on every platform this file must build on.
func (p *RedisProc) signal(sig string) {
	if p.t != nil {
		p.t.Helper()
	}
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	out, err := exec.Command("kill", "-"+sig, strconv.Itoa(cmd.Process.Pid)).CombinedOutput()
	if err != nil && p.t != nil {
		p.t.Fatalf("testenv: kill -%s redis-server: %v: %s", sig, err, out)
	}
}

// startRedis starts a server on a free port, retrying on another port if
// the chosen one was taken in the meantime.
func startRedis(t testing.TB, bin string) (*RedisProc, error) {
	removeStaleRedisDirs()
	dir, err := os.MkdirTemp("", "patchbay-redis-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p := &RedisProc{t: t, bin: bin, port: port, dir: dir}
		if lastErr = p.spawn(); lastErr == nil {
			return p, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// removeStaleRedisDirs removes the directories of servers whose test
// process died without cleaning up (the server itself died with it).
func removeStaleRedisDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "patchbay-redis-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	// The port is free for the server only once this listener is gone.
	return port, l.Close()
}

// spawn starts the process and waits until it answers PING.
func (p *RedisProc) spawn() error {
	log := &tailBuffer{max: 4096}
	started := make(chan error, 1)
	exited := make(chan struct{})
	cmdCh := make(chan *exec.Cmd, 1)
	go func() {
		// The parent-death signal fires when the thread that started the
		// child exits, not the process; keeping this goroutine on its own
		// thread until the server exits keeps that thread alive.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(p.bin,
			"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no",
			"--databases", strconv.Itoa(redisDatabases),
			"--dir", p.dir, "--daemonize", "no", "--logfile", "")
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		setParentDeathSignal(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		cmdCh <- cmd
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	cmd := <-cmdCh
	p.mu.Lock()
	p.cmd, p.exited, p.log = cmd, exited, log
	p.mu.Unlock()
	redisState.mu.Lock()
	if redisState.live == nil {
		redisState.live = make(map[*RedisProc]struct{})
	}
	redisState.live[p] = struct{}{}
	redisState.mu.Unlock()

	deadline := time.Now().Add(redisReadyTimeout)
	for {
		err := redisCommand(p.Addr(), "PING")
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			p.reap()
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(log.String()))
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("redis-server on port %d not ready after %v: %w; log: %s", p.port, redisReadyTimeout, err, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setParentDeathSignal asks the kernel to kill the server when this process
// dies, even by a crash or a test timeout. The field exists only on Linux
// (and FreeBSD); reflection keeps this one file building everywhere.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	if f.IsValid() && f.CanSet() && f.Type() == reflect.TypeOf(syscall.SIGKILL) {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
}

// kill stops the process if it runs and waits for it.
func (p *RedisProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	p.reap()
}

// close kills the process for good and removes its directory.
func (p *RedisProc) close() {
	p.kill()
	_ = os.RemoveAll(p.dir)
}

// reap forgets an exited process.
func (p *RedisProc) reap() {
	p.mu.Lock()
	p.cmd, p.exited = nil, nil
	p.mu.Unlock()
	redisState.mu.Lock()
	delete(redisState.live, p)
	redisState.mu.Unlock()
}

// redisCommand sends inline commands to addr and expects a status reply
// ("+OK", "+PONG") to each. Speaking RESP directly keeps go-redis in the
// redis package alone.
func redisCommand(addr string, cmds ...string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // best effort: the replies have been read or have failed by then
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	rd := bufio.NewReader(conn)
	for _, c := range cmds {
		if _, err := conn.Write([]byte(c + "\r\n")); err != nil {
			return err
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+") {
			return fmt.Errorf("%s: %s", c, strings.TrimSpace(line))
		}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if over := w.b.Len() - w.max; over > 0 {
		w.b.Next(over)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
