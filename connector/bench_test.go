package connector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

func BenchmarkBindAndValidate(b *testing.B) {
	c, err := Parse(readExample(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	cc, err := Compile(c)
	if err != nil {
		b.Fatal(err)
	}
	m := apiKeyMaterial("key-123")
	params := json.RawMessage(`{"query":"ada lovelace","limit":20,"cursor":"eyJwIjoyfQ"}`)
	ca, _ := cc.action("contacts_list")
	b.ReportAllocs()
	for b.Loop() {
		a, err := ca.validate(params)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cc.bind(ca, a, m, "Patchbay/bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecute(b *testing.B) {
	f := newFake(b, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":[{"id":"c_1001","name":"Ada Lovelace","email":"ada@example.com"}],"next_cursor":null}`)
	})
	rt, _ := newTestRuntime(b, f, nil)
	cc := mustCompile(b, headerKeyDoc)
	call := &Call{AccountID: "acct", Connector: cc, ActionID: "list", Params: json.RawMessage(`{}`), Credentials: &creds{m: apiKeyMaterial("key-123")}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.Execute(ctx, call); err != nil {
			b.Fatal(err)
		}
	}
}
