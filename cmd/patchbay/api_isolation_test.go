package main

import (
	"net/http"
	"testing"
)

// §5 visibility: a server is visible only to its owner (or an admin key
// acting as the owner) within its account; everything else is 404.
func TestAPIServerIsolation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	owner := ts.userKey("alice")
	id := ts.createServer("Alice's", bearer(owner)...).str("serverId")
	otherUser := ts.userKey("bob")
	otherAdmin := ts.newAccount("other")
	otherUserKey := ts.createKey(otherAdmin, map[string]any{"name": "alice elsewhere", "userId": "alice", "role": "user"}).Key
	aliceJWT := ts.mint("alice", nil)
	bobJWT := ts.mint("bob", nil)

	endpoints := []struct {
		name, method, path string
		body               any
	}{
		{"Get", "GET", "/api/servers/" + id, nil},
		{"Update", "PUT", "/api/servers/" + id, `{"description":"hijacked"}`},
		{"UpdateEmpty", "PUT", "/api/servers/" + id, `{}`},
		{"Regenerate", "POST", "/api/servers/" + id + "/regenerate-token", nil},
		{"Delete", "DELETE", "/api/servers/" + id, nil},
	}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			for _, c := range []struct {
				who     string
				headers []string
			}{
				{"OtherAccountAdmin", bearer(otherAdmin)},
				{"OtherAccountAdminAsOwner", hdrs(bearer(otherAdmin), []string{"x-alloy-userid", "alice"})},
				{"OtherAccountSameUserID", bearer(otherUserKey)},
				{"OtherUserKey", bearer(otherUser)},
				{"OtherUserJWT", bearer(bobJWT)},
				{"AdminAsItself", nil},
				{"AdminAsOtherUser", []string{"x-alloy-userid", "bob"}},
				{"AdminBlankUserID", []string{"x-alloy-userid", "   "}},
			} {
				r := ts.call(ep.method, ep.path, ep.body, c.headers...)
				r.wantErr(t, http.StatusNotFound, "NOT_FOUND")
			}
			// A user key naming another user is refused outright.
			ts.call(ep.method, ep.path, ep.body, hdrs(bearer(otherUser), []string{"x-alloy-userid", "alice"})...).
				wantErr(t, http.StatusForbidden, "FORBIDDEN", "reason", "user_mismatch")
			ts.call(ep.method, ep.path, ep.body, hdrs(bearer(owner), []string{"x-alloy-userid", "bob"})...).
				wantErr(t, http.StatusForbidden, "FORBIDDEN")
			// Invalid x-alloy-userid: 400 naming the header.
			ts.call(ep.method, ep.path, ep.body, "x-alloy-userid", "bad user").
				wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", "x-alloy-userid")
		})
	}
	// Nothing above changed the server.
	r := ts.call("GET", "/api/servers/"+id, nil, bearer(owner)...).want(t, http.StatusOK)
	if r.str("description") != "" {
		t.Fatalf("server changed by another principal: %s", r.Body)
	}
	// The owner in every form sees it: own key (with and without naming
	// itself), the admin key acting as alice, alice's JWT.
	for _, h := range [][]string{
		bearer(owner),
		hdrs(bearer(owner), []string{"x-alloy-userid", "alice"}),
		hdrs(bearer(owner), []string{"x-alloy-userid", " "}),
		{"x-alloy-userid", "alice"},
		{"x-alloy-userid", " alice "},
		bearer(aliceJWT),
		{"Authorization", "", "x-alloy-user-token", aliceJWT},
	} {
		ts.call("GET", "/api/servers/"+id, nil, h...).want(t, http.StatusOK)
		list := ts.call("GET", "/api/servers", nil, h...).want(t, http.StatusOK)
		if list.num("count") != 1 || list.list("servers")[0]["serverId"] != id {
			t.Fatalf("owner's list with %v: %s", h, list.Body)
		}
	}
	// Lists of others are empty.
	for _, h := range [][]string{bearer(otherUser), bearer(otherAdmin), bearer(otherUserKey), hdrs(bearer(otherAdmin), []string{"x-alloy-userid", "alice"}), nil} {
		if n := ts.call("GET", "/api/servers", nil, h...).want(t, http.StatusOK).num("count"); n != 0 {
			t.Fatalf("%v sees %v servers", h, n)
		}
	}
	// Invalid x-alloy-userid on list and create as well; the 128-character
	// limit and the allowed punctuation.
	for _, v := range []string{"bad user", "a/b", "é", "x" + string(rune(0x200b)), longID(129)} {
		ts.call("GET", "/api/servers", nil, "x-alloy-userid", v).wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", "x-alloy-userid")
	}
	ts.call("POST", "/api/servers", `{"name":"x"}`, "x-alloy-userid", "no spaces").wantErr(t, http.StatusBadRequest, "INVALID_REQUEST", "field", "x-alloy-userid")
	for _, v := range []string{longID(128), "a.b_c@d:e|f+g=h-i"} {
		ts.call("GET", "/api/servers", nil, "x-alloy-userid", v).want(t, http.StatusOK)
	}
	// The owner can do everything; the admin acting as alice too.
	ts.call("PUT", "/api/servers/"+id, `{"description":"mine"}`, "x-alloy-userid", "alice").want(t, http.StatusOK)
	ts.call("POST", "/api/servers/"+id+"/regenerate-token", nil, bearer(aliceJWT)...).want(t, http.StatusOK)
	ts.call("DELETE", "/api/servers/"+id, nil, bearer(owner)...).want(t, http.StatusOK)
}

func longID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'u'
	}
	return string(b)
}
