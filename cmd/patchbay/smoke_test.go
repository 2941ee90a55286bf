package main

import (
	"net/http"
	"testing"
)

func TestSmoke(t *testing.T) {
	ts := newTestServer(t)
	r := ts.call("POST", "/api/servers", map[string]any{"name": "Support Bot"}).want(t, http.StatusCreated)
	id := r.str("serverId")
	ts.call("GET", "/api/servers/"+id, nil).want(t, http.StatusOK)
	ts.call("GET", "/api/servers/"+id, nil, "Authorization", "").want(t, http.StatusUnauthorized, "UNAUTHORIZED")
}
