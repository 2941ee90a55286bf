package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// §4.3: API keys.

func TestAPIKeyCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	before := time.Now().UTC().Truncate(time.Second)
	k := ts.createKey("", map[string]any{"name": "backend-eu", "userId": "svc-backend", "role": "admin", "expiresInDays": 365, "requireSignature": true})
	j := k.JSON
	if !reKeyID.MatchString(k.ID) || !reAPIKey.MatchString(k.Key) || !reSecret.MatchString(k.Secret) {
		t.Fatalf("keyId %q apiKey %q signingSecret %q", k.ID, k.Key, k.Secret)
	}
	created := parseTime(t, j["createdAt"])
	if created.Before(before) || created.After(time.Now()) || !reTimestamp.MatchString(j["createdAt"].(string)) {
		t.Fatalf("createdAt %v", j["createdAt"])
	}
	want := map[string]any{
		"keyId": k.ID, "apiKey": k.Key, "signingSecret": k.Secret, "name": "backend-eu", "userId": "svc-backend",
		"role": "admin", "keyPrefix": k.Key[:7], "requireSignature": true, "createdAt": j["createdAt"],
		"expiresAt": created.Add(365 * 24 * time.Hour).Format(time.RFC3339), "lastUsedAt": nil,
	}
	if d := cmp.Diff(want, j); d != "" {
		t.Fatalf("create response (-want +got):\n%s", d)
	}

	// Defaults: the acting user, no expiry, no signature (and no signingSecret member).
	u := ts.createKey("", map[string]any{"name": "  plain  ", "role": "user"})
	if d := cmp.Diff(map[string]any{
		"keyId": u.ID, "apiKey": u.Key, "name": "plain", "userId": "admin", "role": "user", "keyPrefix": u.Key[:7],
		"requireSignature": false, "createdAt": u.JSON["createdAt"], "expiresAt": nil, "lastUsedAt": nil,
	}, u.JSON); d != "" {
		t.Fatalf("defaults (-want +got):\n%s", d)
	}
	// The acting user of an admin key via x-alloy-userid is the default owner.
	r := ts.call("POST", "/api/keys", map[string]any{"name": "n", "role": "user"}, "x-alloy-userid", "cust-7").want(t, http.StatusCreated)
	if r.str("userId") != "cust-7" {
		t.Fatalf("userId %q, want the acting user", r.str("userId"))
	}
	ts.createKey("", map[string]any{"name": "max", "role": "user", "expiresInDays": 3650, "requireSignature": false})

	// The new keys work, with their role.
	ts.call("GET", "/api/servers", nil, bearer(u.Key)...).want(t, http.StatusOK)
	ts.call("GET", "/api/keys", nil, bearer(u.Key)...).wantErr(t, http.StatusForbidden, "FORBIDDEN")

	for _, tt := range []struct{ name, body, field string }{
		{"NameMissing", `{"role":"user"}`, "name"},
		{"NameEmpty", `{"name":"","role":"user"}`, "name"},
		{"NameWhitespace", `{"name":"   ","role":"user"}`, "name"},
		{"Name101", `{"name":"` + strings.Repeat("k", 101) + `","role":"user"}`, "name"},
		{"RoleMissing", `{"name":"k"}`, "role"},
		{"RoleUnknown", `{"name":"k","role":"owner"}`, "role"},
		{"RoleCase", `{"name":"k","role":"Admin"}`, "role"},
		{"UserIDInvalid", `{"name":"k","role":"user","userId":"bad user"}`, "userId"},
		{"UserIDNull", `{"name":"k","role":"user","userId":null}`, "userId"},
		{"Days0", `{"name":"k","role":"user","expiresInDays":0}`, "expiresInDays"},
		{"Days3651", `{"name":"k","role":"user","expiresInDays":3651}`, "expiresInDays"},
		{"DaysFraction", `{"name":"k","role":"user","expiresInDays":1.5}`, "expiresInDays"},
		{"DaysString", `{"name":"k","role":"user","expiresInDays":"5"}`, "expiresInDays"},
		{"DaysNull", `{"name":"k","role":"user","expiresInDays":null}`, "expiresInDays"},
		{"SignatureString", `{"name":"k","role":"user","requireSignature":"true"}`, "requireSignature"},
		{"SignatureNull", `{"name":"k","role":"user","requireSignature":null}`, "requireSignature"},
		{"Unknown", `{"name":"k","role":"user","scopes":[]}`, "scopes"},
		{"CaseVariant", `{"name":"k","Role":"user"}`, "Role"},
		{"Duplicate", `{"name":"k","role":"user","role":"admin"}`, "role"},
		{"Trailing", `{"name":"k","role":"user"}]`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("POST", "/api/keys", tt.body).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST")
			if tt.field != "" && r.detail("field") != tt.field {
				t.Fatalf("details.field %v, want %q", r.detail("field"), tt.field)
			}
		})
	}
}

func TestAPIKeyListDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.createKey("", map[string]any{"name": "a", "role": "admin", "requireSignature": true})
	b := ts.createKey("", map[string]any{"name": "b", "role": "user", "userId": "bob"})
	r := ts.call("GET", "/api/keys", nil).want(t, http.StatusOK)
	keys := r.list("keys")
	if r.num("count") != 3 || len(keys) != 3 {
		t.Fatalf("list: %s", r.Body)
	}
	for i, k := range keys {
		if _, ok := k["apiKey"]; ok {
			t.Fatal("list shows apiKey")
		}
		if _, ok := k["signingSecret"]; ok {
			t.Fatal("list shows signingSecret")
		}
		if i > 0 && k["createdAt"].(string) > keys[i-1]["createdAt"].(string) {
			t.Fatal("list is not newest first")
		}
	}
	if strings.Contains(string(r.Body), a.Key) || strings.Contains(string(r.Body), a.Secret) || strings.Contains(string(r.Body), ts.AdminKey) {
		t.Fatal("list leaks a key or secret")
	}
	var gotB map[string]any
	for _, k := range keys {
		if k["keyId"] == b.ID {
			gotB = k
		}
	}
	wantB := map[string]any{}
	for k, v := range b.JSON {
		if k != "apiKey" {
			wantB[k] = v
		}
	}
	if d := cmp.Diff(wantB, gotB); d != "" {
		t.Fatalf("listed key (-created +listed):\n%s", d)
	}

	// A deleted key is refused at once.
	ts.call("GET", "/api/servers", nil, bearer(b.Key)...).want(t, http.StatusOK)
	r = ts.call("DELETE", "/api/keys/"+b.ID, nil).want(t, http.StatusOK)
	if d := cmp.Diff(map[string]any{"message": "Key deleted", "keyId": b.ID}, r.JSON); d != "" {
		t.Fatal(d)
	}
	ts.call("GET", "/api/servers", nil, bearer(b.Key)...).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	ts.call("DELETE", "/api/keys/"+b.ID, nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("DELETE", "/api/keys/key_0000000000000000", nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	ts.call("DELETE", "/api/keys/garbage", nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")

	// Another account's key is invisible: 404, and it keeps working.
	other := ts.newAccount("other")
	ok := ts.createKey(other, map[string]any{"name": "o", "role": "user"})
	ts.call("DELETE", "/api/keys/"+ok.ID, nil).wantErr(t, http.StatusNotFound, "NOT_FOUND")
	if strings.Contains(string(ts.call("GET", "/api/keys", nil).Body), ok.ID) {
		t.Fatal("another account's key is listed")
	}
	ts.call("GET", "/api/servers", nil, bearer(ok.Key)...).want(t, http.StatusOK)

	// The last non-expired admin key cannot go; an expired admin key does not count.
	boot := ts.call("GET", "/api/keys", nil).list("keys")
	var bootID string
	for _, k := range boot {
		if k["keyId"] != a.ID && k["role"] == "admin" {
			bootID = k["keyId"].(string)
		}
	}
	ts.expiredKey("admin")
	// a requires signing; delete it with the bootstrap key, then the bootstrap
	// key is the last live admin key.
	ts.call("DELETE", "/api/keys/"+a.ID, nil).want(t, http.StatusOK)
	ts.call("DELETE", "/api/keys/"+bootID, nil).wantErr(t, http.StatusConflict, "CONFLICT")
	ts.call("GET", "/api/keys", nil).want(t, http.StatusOK)
	// With a second admin key the first may go, even deleting itself.
	c := ts.createKey("", map[string]any{"name": "c", "role": "admin"})
	ts.call("DELETE", "/api/keys/"+bootID, nil).want(t, http.StatusOK)
	ts.call("GET", "/api/keys", nil).wantErr(t, http.StatusUnauthorized, "UNAUTHORIZED")
	ts.call("DELETE", "/api/keys/"+c.ID, nil, bearer(c.Key)...).wantErr(t, http.StatusConflict, "CONFLICT")
}

func TestAPIKeyAuthRules(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	user := ts.userKey("alice")
	expired := ts.expiredKey("admin")
	for _, tt := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"NoCredential", []string{"Authorization", ""}, 401},
		{"Expired", bearer(expired), 401},
		{"Unknown", bearer("pb_" + strings.Repeat("A", 40)), 401},
		{"Malformed", bearer("pb_short"), 401},
		{"NoBearerPrefix", []string{"Authorization", ts.AdminKey}, 401},
		{"Basic", []string{"Authorization", "Basic " + ts.AdminKey}, 401},
		{"TwoSpaces", []string{"Authorization", "Bearer  " + ts.AdminKey}, 401},
		{"LowerCaseScheme", []string{"Authorization", "bearer " + ts.AdminKey}, 200},
		{"UpperCaseScheme", []string{"Authorization", "BEARER " + ts.AdminKey}, 200},
		{"OtherValue", bearer("sk_live_123"), 401},
		{"WrongHeaderNamesIgnored", hdrs([]string{"Authorization", ""}, []string{"x-user-id", "admin", "x-alloy-user-id", "admin"}), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call("GET", "/api/servers", nil, tt.headers...)
			if tt.status == 401 {
				r.wantErr(t, 401, "UNAUTHORIZED")
				if m := r.JSON["error"].(map[string]any)["message"]; m != "Invalid or missing authentication" {
					t.Fatalf("message %q", m)
				}
				return
			}
			r.want(t, tt.status)
		})
	}
	// Unknown, deleted and expired keys get the same answer (§4.2 rule 2).
	deleted := ts.createKey("", map[string]any{"name": "gone", "role": "user"})
	ts.call("DELETE", "/api/keys/"+deleted.ID, nil).want(t, http.StatusOK)
	var bodies []string
	for _, k := range []string{"pb_" + strings.Repeat("B", 40), deleted.Key, expired} {
		r := ts.call("GET", "/api/servers", nil, hdrs(bearer(k), []string{"X-Request-Id", "same"})...).want(t, http.StatusUnauthorized)
		bodies = append(bodies, string(r.Body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("401 bodies differ:\n%s", strings.Join(bodies, "\n"))
	}
	// A user key on every admin-only endpoint gets 403.
	for _, ep := range []struct{ method, path, body string }{
		{"POST", "/api/keys", `{"name":"x","role":"admin"}`},
		{"GET", "/api/keys", ""},
		{"DELETE", "/api/keys/key_0000000000000000", ""},
		{"POST", "/api/users/alice/token", ""},
		{"GET", "/api/account", ""},
		{"PUT", "/api/account", `{}`},
		{"POST", "/api/account/jwt-secret/rotate", ""},
		{"GET", "/api/audit", ""},
	} {
		t.Run("UserKey/"+ep.method+ep.path, func(t *testing.T) {
			var body any
			if ep.body != "" {
				body = ep.body
			}
			ts.call(ep.method, ep.path, body, bearer(user)...).wantErr(t, http.StatusForbidden, "FORBIDDEN")
		})
	}
	// lastUsedAt is recorded (asynchronously, at most once a minute).
	deadline := time.Now().Add(5 * time.Second)
	for {
		var used any
		for _, k := range ts.call("GET", "/api/keys", nil).list("keys") {
			if k["userId"] == "alice" {
				used = k["lastUsedAt"]
			}
		}
		if s, _ := used.(string); reTimestamp.MatchString(s) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lastUsedAt still %v", used)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two admins deleting each other's keys at once cannot leave the account
// without a live admin key.
func TestAPIKeyConcurrentLastAdminDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for round := range 5 {
		a := ts.createKey("", map[string]any{"name": fmt.Sprintf("a%d", round), "role": "admin"})
		b := ts.createKey("", map[string]any{"name": fmt.Sprintf("b%d", round), "role": "admin"})
		// Remove every other admin key so that a and b are the last two.
		for _, k := range ts.call("GET", "/api/keys", nil, bearer(a.Key)...).want(t, http.StatusOK).list("keys") {
			if id := k["keyId"].(string); k["role"] == "admin" && id != a.ID && id != b.ID {
				ts.call("DELETE", "/api/keys/"+id, nil, bearer(a.Key)...).want(t, http.StatusOK)
			}
		}
		res := make(chan int, 2)
		start := make(chan struct{})
		for _, pair := range [][2]apiKey{{a, b}, {b, a}} {
			go func() {
				<-start
				res <- ts.call("DELETE", "/api/keys/"+pair[1].ID, nil, bearer(pair[0].Key)...).Status
			}()
		}
		close(start)
		s1, s2 := <-res, <-res
		ok := 0
		for _, s := range []int{s1, s2} {
			if s == http.StatusOK {
				ok++
			} else if s != http.StatusConflict && s != http.StatusUnauthorized {
				t.Fatalf("status %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d deletions succeeded (%d, %d)", round, ok, s1, s2)
		}
		// Exactly one of them still works, and it is an admin.
		live := 0
		for _, k := range []apiKey{a, b} {
			if ts.call("GET", "/api/keys", nil, bearer(k.Key)...).Status == http.StatusOK {
				live++
				ts.AdminKey = k.Key
			}
		}
		if live != 1 {
			t.Fatalf("round %d: %d admin keys left", round, live)
		}
	}
}
