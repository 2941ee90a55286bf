package testenv

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// reply sends one inline command to database db at addr and returns the
// first reply line.
func reply(t *testing.T, addr, db, cmd string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	for _, c := range []string{"SELECT " + db, cmd} {
		if _, err := conn.Write([]byte(c + "\r\n")); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if c == cmd {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func hostAndDB(t *testing.T, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/")
}

func TestRedis(t *testing.T) {
	if os.Getenv(RedisURLEnv) != "" {
		t.Run("External", func(t *testing.T) {
			if got := Redis(t); got != os.Getenv(RedisURLEnv) {
				t.Fatalf("Redis = %q, want the configured URL unchanged", got)
			}
		})
		return
	}
	var firstDB string
	t.Run("Write", func(t *testing.T) {
		addr, db := hostAndDB(t, Redis(t))
		firstDB = db
		if got := reply(t, addr, db, "SET leftover 1"); got != "+OK" {
			t.Fatalf("SET: %s", got)
		}
		// Another caller at the same time has a database of its own.
		addr2, db2 := hostAndDB(t, Redis(t))
		if addr2 != addr || db2 == db {
			t.Fatalf("concurrent callers got %s/%s and %s/%s; want one server, two databases", addr, db, addr2, db2)
		}
		if got := reply(t, addr2, db2, "DBSIZE"); got != ":0" {
			t.Fatalf("DBSIZE of the second database = %s, want :0", got)
		}
	})
	t.Run("ReusedEmpty", func(t *testing.T) {
		addr, db := hostAndDB(t, Redis(t))
		if db != firstDB {
			t.Logf("database %s not reused (got %s); checking emptiness anyway", firstDB, db)
		}
		if got := reply(t, addr, db, "DBSIZE"); got != ":0" {
			t.Fatalf("DBSIZE of a reused database = %s, want :0", got)
		}
	})
}

func TestRedisServer(t *testing.T) {
	p := RedisServer(t)
	if got := reply(t, p.Addr(), "0", "SET k v"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}

	p.Stop()
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a stopped server still accepts connections")
	}
	p.Stop() // stopping twice is harmless

	p.Start()
	if got := reply(t, p.Addr(), "0", "DBSIZE"); got != ":0" {
		t.Fatalf("DBSIZE after a restart = %s, want :0 (no persistence)", got)
	}

	p.Pause()
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatalf("a paused server refused the connection: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = conn.Write([]byte("PING\r\n"))
	var buf [16]byte
	if n, err := conn.Read(buf[:]); err == nil {
		t.Fatalf("a paused server answered %q", buf[:n])
	}
	conn.Close()
	p.Resume()
	if got := reply(t, p.Addr(), "0", "PING"); got != "+PONG" {
		t.Fatalf("PING after Resume = %s", got)
	}
	if !strings.HasPrefix(p.URL(), "redis://127.0.0.1:") {
		t.Fatalf("URL = %q", p.URL())
	}
}
