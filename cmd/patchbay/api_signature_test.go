package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay/authn"
)

// §4.6: signed requests for keys created with requireSignature.

// The contract's worked example, computed with authn's helpers and with the
// tests' own canonicalV1, so the tests below sign exactly as an integrator
// following §4.6 would.
func TestAPISignatureContractExample(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}}
	can, err := authn.Canonical("POST", "/api/servers", "1796378100", "n7Qx2LpZr8Vw4Ks1", h, []byte(`{"name":"Support Bot"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "v1\nPOST\n/api/servers\n1796378100\nn7Qx2LpZr8Vw4Ks1\n" +
		"content-type:application/json;x-alloy-userid:;x-alloy-user-token:;x-credential-id:;x-mcp-server-id:;x-redirect-uri:\n" +
		"f574b2f30ce1c099adbb657be78b46250680da2a8ef52f6ecfcf4880bdedf6c3"
	mine := canonicalV1("POST", "/api/servers", "1796378100", "n7Qx2LpZr8Vw4Ks1", h, []byte(`{"name":"Support Bot"}`))
	if can != want || mine != want {
		t.Fatalf("canonical\n%q (authn)\n%q (test)\nwant\n%q", can, mine, want)
	}
	const secret, wantSig = "pbs_cQskiXSwHyyqP7w58NMDEXFUBVHwOFsxcpEryFiq", "v1=8d6869dfb0b55f1afdeed00b654df84c775092e6c131d8c826a08b6fb46d6bb4"
	if sig, mineSig := authn.Sign(secret, can), signV1(secret, mine); sig != wantSig || mineSig != wantSig {
		t.Fatalf("signature %s (authn) %s (test)", sig, mineSig)
	}
}

func TestAPISignedRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	k := ts.createKey("", map[string]any{"name": "signed", "role": "admin", "requireSignature": true})
	body := `{"name":"Signed Bot"}`

	// A correct signature passes, on POST with a body and GET with a query.
	s := sign(t, k.Key, k.Secret, "POST", "/api/servers", body, 0)
	id := ts.send(s, s.Target, body).want(t, http.StatusCreated).str("serverId")
	g := sign(t, k.Key, k.Secret, "GET", "/api/servers?limit=5&offset=0", "", 0)
	ts.send(g, g.Target, "").want(t, http.StatusOK)
	g = sign(t, k.Key, k.Secret, "GET", "/api/servers/"+id, "", 0, "x-alloy-userid", "admin")
	ts.send(g, g.Target, "").want(t, http.StatusOK)
	// Timestamps at the edges of the window.
	for _, skew := range []time.Duration{-290 * time.Second, 290 * time.Second} {
		g = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", skew)
		ts.send(g, g.Target, "").want(t, http.StatusOK)
	}

	reason := func(r *resp, want string) {
		t.Helper()
		r.wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED", "reason", want)
	}
	// Replay of the same nonce.
	reason(ts.send(s, s.Target, body), "nonce_reused")
	// Outside ±300 s.
	for _, skew := range []time.Duration{-310 * time.Second, 310 * time.Second, -24 * time.Hour} {
		o := sign(t, k.Key, k.Secret, "GET", "/api/servers", "", skew)
		reason(ts.send(o, o.Target, ""), "timestamp_out_of_window")
	}
	// Changed body, path, query, method, signed header.
	c := sign(t, k.Key, k.Secret, "POST", "/api/servers", `{"name":"A"}`, 0)
	reason(ts.send(c, c.Target, `{"name":"B"}`), "signature_invalid")
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers/"+id, "", 0)
	reason(ts.send(c, "/api/servers/other-00000000", ""), "signature_invalid")
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers?limit=1", "", 0)
	reason(ts.send(c, "/api/servers?limit=2", ""), "signature_invalid")
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
	reason(ts.send(c, "/api/servers?limit=2", ""), "signature_invalid")
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0, "x-alloy-userid", "admin")
	c.Header.Set("x-alloy-userid", "mallory")
	reason(ts.send(c, c.Target, ""), "signature_invalid")
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
	c.Header.Set("x-alloy-user-token", "added.after.signing")
	reason(ts.send(c, c.Target, ""), "signature_invalid")
	// Signed with another secret.
	other := ts.createKey("", map[string]any{"name": "other", "role": "admin", "requireSignature": true})
	c = sign(t, k.Key, other.Secret, "GET", "/api/servers", "", 0)
	reason(ts.send(c, c.Target, ""), "signature_invalid")
	// Missing headers.
	for _, h := range []string{"x-alloy-timestamp", "x-alloy-nonce", "x-alloy-signature"} {
		c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
		c.Header.Del(h)
		reason(ts.send(c, c.Target, ""), "signature_missing")
	}
	ts.call("GET", "/api/servers", nil, bearer(k.Key)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED", "reason", "signature_missing")
	// Malformed headers.
	for _, tt := range []struct{ header, value string }{
		{"x-alloy-timestamp", "+1796378100"},
		{"x-alloy-timestamp", "1796378100.5"},
		{"x-alloy-nonce", "short"},
		{"x-alloy-nonce", strings.Repeat("n", 65)},
		{"x-alloy-nonce", "has space in it!!"},
		{"x-alloy-signature", "v2=" + strings.Repeat("0", 64)},
		{"x-alloy-signature", "v1=" + strings.Repeat("A", 64)},
	} {
		c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
		c.Header.Set(tt.header, tt.value)
		r := ts.send(c, c.Target, "").wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
		if rs := r.detail("reason"); rs != "signature_invalid" && rs != "timestamp_out_of_window" {
			t.Fatalf("%s=%q: reason %v", tt.header, tt.value, rs)
		}
	}
	// A failed signature does not consume the nonce: the same nonce signed
	// correctly still passes once.
	c = sign(t, k.Key, k.Secret, "GET", "/api/servers", "", 0)
	bad := c.Header.Get("x-alloy-signature")
	c.Header.Set("x-alloy-signature", "v1="+strings.Repeat("0", 64))
	reason(ts.send(c, c.Target, ""), "signature_invalid")
	c.Header.Set("x-alloy-signature", bad)
	ts.send(c, c.Target, "").want(t, http.StatusOK)

	// A key without requireSignature still has a signature verified when one
	// is sent, and a plain request passes.
	plain := ts.createKey("", map[string]any{"name": "plain", "role": "admin"})
	ts.call("GET", "/api/servers", nil, bearer(plain.Key)...).want(t, http.StatusOK)
	c = sign(t, plain.Key, "pbs_"+strings.Repeat("x", 40), "GET", "/api/servers", "", 0)
	reason(ts.send(c, c.Target, ""), "signature_invalid")

	// Failures of a known key are audited as auth.failed without secrets.
	ev := ts.call("GET", "/api/audit?type=auth.failed&limit=200", nil).want(t, http.StatusOK)
	if len(ev.list("events")) < 10 || strings.Contains(string(ev.Body), k.Secret) {
		t.Fatalf("auth.failed events: %d", len(ev.list("events")))
	}
}

// TestAPISignedReplayRace: of 50 concurrent copies of one signed request,
// exactly one is admitted.
func TestAPISignedReplayRace(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	k := ts.createKey("", map[string]any{"name": "signed", "role": "admin", "requireSignature": true})
	body := `{"name":"Race"}`
	s := sign(t, k.Key, k.Secret, "POST", "/api/servers", body, 0)
	const n = 50
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		statuses = make([]int, n)
		reasons  = make([]string, n)
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", ts.URL+s.Target, bytes.NewReader([]byte(body)))
			req.Header = s.Header.Clone()
			<-start
			res, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			statuses[i] = res.StatusCode
			if res.StatusCode != http.StatusCreated {
				r := &resp{Body: b}
				_ = jsonUnmarshal(b, &r.JSON)
				reasons[i], _ = r.detail("reason").(string)
			}
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i, st := range statuses {
		switch {
		case st == http.StatusCreated:
			created++
		case st == http.StatusUnauthorized && reasons[i] == "nonce_reused":
		default:
			t.Errorf("request %d: status %d reason %q", i, st, reasons[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d replays admitted, want exactly 1", created, n)
	}
	if c := ts.call("GET", "/api/servers", nil).num("count"); c != 1 {
		t.Fatalf("%v servers created", c)
	}
}
