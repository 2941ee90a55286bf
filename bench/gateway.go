package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchUser owns the benchmark servers and credentials; every auth mode acts
// as this user, so every mode reaches the same sealed credential.
const benchUser = "bench-user"

// serversPerMode spreads each auth mode over several servers: the MCP rate
// limit is per (server, user) and capped at 100000 per minute (§9), which a
// single server would exhaust in well under a minute at full speed.
const serversPerMode = 8

// moduleRoot returns the directory of the go.mod that contains the working
// directory (the repository root, also when run from bench/ by go test).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the patchbay module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// buildPatchbay builds the real binary into dir.
func buildPatchbay(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "patchbay")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/patchbay")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/patchbay: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr reserves a loopback port and releases it, so that the public URL
// Patchbay prints in server objects is the address it listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// randomKey returns n random base62 characters.
func randomKey(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// child is a process the bench started and measures.
type child struct {
	cmd    *exec.Cmd
	URL    string
	output *bytes.Buffer // stderr (gateway) for failure reports
	stdin  io.Closer     // floor: closing it ends the child
	done   chan struct{}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	if c.stdin != nil {
		_ = c.stdin.Close()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// listeningURL finds the address in serve's start line
// ("patchbay: listening on http://127.0.0.1:8080 (public URL ...").
func listeningURL(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, "listening on ")
	if !ok {
		return "", false
	}
	u, _, _ := strings.Cut(rest, " ")
	return u, strings.HasPrefix(u, "http://")
}

// startPatchbay runs `patchbay serve` on a fresh SQLite database in dataDir.
func startPatchbay(bin, dataDir, adminKey string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--ssrf-allow", "127.0.0.1",
		"--rate-limit", "100000", "--mgmt-rate-limit", "100000", "--log-level", "error", "--shutdown-drain", "0s")
	cmd.Env = append(os.Environ(),
		"PATCHBAY_MASTER_KEY="+base64.StdEncoding.EncodeToString(master),
		"PATCHBAY_BOOTSTRAP_API_KEY="+adminKey)
	cmd.SysProcAttr = childAttr()
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	c := &child{cmd: cmd, output: &bytes.Buffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); _ = pw.Close(); close(c.done) }()
	found := make(chan string, 1)
	go func() {
		// Keep draining after the start line so the process never blocks on
		// a full pipe; remember the first lines for error reports.
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if c.output.Len() < 64<<10 {
				c.output.WriteString(line + "\n")
			}
			if u, ok := listeningURL(line); ok {
				select {
				case found <- u:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		c.URL = u
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("patchbay serve exited before listening:\n%s", c.output.String())
	case <-time.After(60 * time.Second):
		c.stop()
		return nil, errors.New("patchbay serve did not start within 60 s")
	}
}

// mgmt is a minimal client of the management API.
type mgmt struct {
	base, key string
	client    *http.Client
}

// call sends body as JSON and decodes a 2xx answer into out.
func (m *mgmt) call(method, path string, headers map[string]string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+m.key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// seeded is what the benchmark needs from a seeded Patchbay.
type seeded struct {
	tokenURLs  []string // private servers' token URLs (token mode)
	keyURLs    []string // other private servers' /mcp/{serverId} (API-key mode)
	publicURLs []string // public servers' token URLs (JWT mode)
	userKey    string   // user API key of benchUser
	userJWT    string   // user JWT of benchUser
}

// Connector IDs the bench creates.
const (
	restConnector = "bench-rest"
	mcpConnector  = "bench-mcp"
)

// seed creates the connectors, credentials, servers, key and JWT.
func seed(base, adminKey string, f *fakes) (*seeded, error) {
	m := &mgmt{base: base, key: adminKey, client: &http.Client{Timeout: 60 * time.Second}}
	asUser := map[string]string{"x-alloy-userid": benchUser}

	action := func(id, path string) map[string]any {
		return map[string]any{"id": id, "name": id, "method": "GET", "path": path}
	}
	rest := map[string]any{
		"id": restConnector, "name": "Bench REST", "baseUrl": f.restURL,
		"auth": []any{map[string]any{"type": "bearer"}},
		"resources": []any{map[string]any{"id": "items", "name": "Items",
			"actions": []any{action("get_small", "/v1/small"), action("get_large", "/v1/large")}}},
	}
	if err := m.call("POST", "/api/connectors", nil, rest, nil); err != nil {
		return nil, fmt.Errorf("create REST connector: %w", err)
	}
	upstream := map[string]any{"type": "mcp", "id": mcpConnector, "name": "Bench MCP", "url": f.mcpURL,
		"auth": []any{map[string]any{"type": "bearer"}}}
	if err := m.call("POST", "/api/connectors", nil, upstream, nil); err != nil {
		return nil, fmt.Errorf("create MCP connector: %w", err)
	}
	for _, id := range []string{restConnector, mcpConnector} {
		cred := map[string]any{"connectorId": id, "authenticationType": "bearer", "fields": map[string]any{"token": platformToken}}
		if err := m.call("POST", "/api/credentials", asUser, cred, nil); err != nil {
			return nil, fmt.Errorf("create credential for %s: %w", id, err)
		}
	}

	s := &seeded{}
	for i := 0; i < serversPerMode; i++ {
		for _, mode := range []struct {
			name   string
			public bool
			dst    *[]string
			token  bool
		}{{"token", false, &s.tokenURLs, true}, {"apikey", false, &s.keyURLs, false}, {"jwt", true, &s.publicURLs, true}} {
			var srv struct {
				ServerID    string `json:"serverId"`
				AccessToken string `json:"accessToken"`
			}
			body := map[string]any{"name": fmt.Sprintf("bench-%s-%02d", mode.name, i), "isPublic": mode.public,
				"cache": false, "rateLimit": map[string]any{"requestsPerMinute": 100000}, "tokenExpiresInDays": 365}
			if err := m.call("POST", "/api/servers", asUser, body, &srv); err != nil {
				return nil, fmt.Errorf("create server: %w", err)
			}
			u := base + "/mcp/" + srv.ServerID
			if mode.token {
				u += "/" + srv.AccessToken
			}
			*mode.dst = append(*mode.dst, u)
		}
	}

	var key struct {
		APIKey string `json:"apiKey"`
	}
	if err := m.call("POST", "/api/keys", nil, map[string]any{"name": "bench-user-key", "userId": benchUser, "role": "user"}, &key); err != nil {
		return nil, fmt.Errorf("create user key: %w", err)
	}
	s.userKey = key.APIKey
	var tok struct {
		Token string `json:"token"`
	}
	if err := m.call("POST", "/api/users/"+benchUser+"/token", nil, map[string]any{"expiresInSeconds": 86400}, &tok); err != nil {
		return nil, fmt.Errorf("mint user JWT: %w", err)
	}
	s.userJWT = tok.Token
	return s, nil
}

// mallocs reads go_memstats_mallocs_total and go_memstats_alloc_bytes_total
// from a Prometheus /metrics page.
func mallocs(client *http.Client, metricsURL string) (memCount, error) {
	resp, err := client.Get(metricsURL)
	if err != nil {
		return memCount{}, err
	}
	defer resp.Body.Close()
	defer func() { _, _ = io.Copy(io.Discard, resp.Body) }() // keep the connection reusable
	var m memCount
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && found < 2 {
		name, v, ok := strings.Cut(sc.Text(), " ")
		var dst *uint64
		switch {
		case !ok:
			continue
		case name == "go_memstats_mallocs_total":
			dst = &m.objects
		case name == "go_memstats_alloc_bytes_total":
			dst = &m.bytes
		default:
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return memCount{}, fmt.Errorf("%s: %w", name, err)
		}
		*dst = uint64(f)
		found++
	}
	if err := sc.Err(); err != nil {
		return memCount{}, err
	}
	if found < 2 {
		return memCount{}, errors.New("go_memstats_mallocs_total or go_memstats_alloc_bytes_total missing from /metrics")
	}
	return m, nil
}
