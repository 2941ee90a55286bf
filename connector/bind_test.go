package connector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

func TestBind(t *testing.T) {
	checkLeaks(t)
	f := newTLSFake(t, nil)
	rt, _ := newTestRuntime(t, f, nil)
	cc := mustCompile(t, bindDoc)
	basic := &patchbay.CredentialMaterial{AuthType: patchbay.AuthBasic, Config: map[string]string{"region": "us", "tenant": "acme"}, Secrets: secrets("username", "ada", "password", "pa:ss")}
	bearer := &patchbay.CredentialMaterial{AuthType: patchbay.AuthBearer, Config: map[string]string{"region": "eu", "tenant": "big co"}, Secrets: secrets("token", "tok123")}

	type want struct {
		Method  string
		Host    string
		URI     string
		Headers map[string]string // subset; "" means absent
		Body    string
	}
	tests := []struct {
		name   string
		action string
		params string
		m      *patchbay.CredentialMaterial
		want   want
	}{
		{
			name: "PathSegmentEncoding", action: "get_item", params: `{"itemId":"a/b c?d#e%f"}`, m: apiKeyMaterial("k1"),
			want: want{Method: "GET", Host: "eu.api.test", URI: "/v2/acme/items/a%2Fb%20c%3Fd%23e%25f",
				Headers: map[string]string{"X-Api-Key": "Token k1", "Accept": "application/json", "User-Agent": "Patchbay/1.2.3", "Content-Type": "", "Referer": "", "Authorization": ""}},
		},
		{
			name: "DotSegmentsEncoded", action: "get_item", params: `{"itemId":".."}`, m: apiKeyMaterial("k1"),
			want: want{Method: "GET", Host: "eu.api.test", URI: "/v2/acme/items/%2E%2E"},
		},
		{
			name: "UnicodeSegment", action: "get_item", params: `{"itemId":"ä~_-.x"}`, m: apiKeyMaterial("k1"),
			want: want{Method: "GET", Host: "eu.api.test", URI: "/v2/acme/items/%C3%A4~_-.x"},
		},
		{
			name: "QueryScalarsAndArrays", action: "get_item", params: `{"itemId":"1","fields":["name","e mail"],"flag":true,"n":1.50,"page":2,"trace":"t-1"}`, m: apiKeyMaterial("k1"),
			want: want{Method: "GET", Host: "eu.api.test", URI: "/v2/acme/items/1?fields=name&fields=e+mail&flag=true&n=1.50&page=2",
				Headers: map[string]string{"X-Trace": "t-1"}},
		},
		{
			name: "QueryNullLeftOut", action: "delete_item", params: `{"itemId":"9","hard":false}`, m: apiKeyMaterial("k1"),
			want: want{Method: "DELETE", Host: "eu.api.test", URI: "/v2/acme/items/9?hard=false"},
		},
		{
			name: "JSONBodyWireNames", action: "create_item", params: `{"title":"Deal","amount":12.5,"meta":{"z":1,"a":[true,null]},"key":"idem-1"}`, m: oauthMaterial("at-1"),
			want: want{Method: "POST", Host: "us.api.test", URI: "/v2/acme/items",
				Headers: map[string]string{"Authorization": "Bearer at-1", "Content-Type": "application/json", "Idempotency-Key": "idem-1"},
				Body:    `{"title":"Deal","amount":12.5,"metadata":{"z":1,"a":[true,null]}}`},
		},
		{
			name: "NoBodyWhenNoneSupplied", action: "create_item", params: `{"key":"idem-2"}`, m: oauthMaterial("at-1"),
			want: want{Method: "POST", Host: "us.api.test", URI: "/v2/acme/items",
				Headers: map[string]string{"Content-Type": "", "Content-Length": "0"}}, // Go sends an explicit 0 for a bodiless POST
		},
		{
			name: "BodyRoot", action: "bulk_put", params: `{"items":[{"id":1},{"id":2}]}`, m: bearer,
			want: want{Method: "PUT", Host: "eu.api.test", URI: "/v2/big%20co/items/bulk",
				Headers: map[string]string{"Authorization": "Bearer tok123", "Content-Type": "application/json"},
				Body:    `[{"id":1},{"id":2}]`},
		},
		{
			name: "FormBody", action: "form_post", params: `{"name":"A&B","tags":["x","y z"],"n":3}`, m: basic,
			want: want{Method: "POST", Host: "us.api.test", URI: "/v2/acme/forms",
				Headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ada:pa:ss")), "Content-Type": "application/x-www-form-urlencoded"},
				Body:    "name=A%26B&tags=x&tags=y+z&n=3"},
		},
		{
			name: "Head", action: "head_item", params: ``, m: bearer,
			want: want{Method: "HEAD", Host: "eu.api.test", URI: "/v2/big%20co/items"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.requests())
			res, err := rt.Execute(context.Background(), &Call{AccountID: "acct", Connector: cc, ActionID: tt.action, Params: json.RawMessage(tt.params), Credentials: &creds{m: tt.m}})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.Status != 200 || res.Attempts != 1 {
				t.Errorf("status %d attempts %d", res.Status, res.Attempts)
			}
			reqs := f.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			got := want{Method: r.Method, Host: r.Host, URI: r.URI, Body: r.Body}
			if tt.want.Headers != nil {
				got.Headers = map[string]string{}
				for k := range tt.want.Headers {
					got.Headers[k] = r.Header.Get(k)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBindAPIKeyQuery(t *testing.T) {
	checkLeaks(t)
	f := newFake(t, nil)
	rt, _ := newTestRuntime(t, f, nil)
	cc := mustCompile(t, queryKeyDoc)
	m := &patchbay.CredentialMaterial{AuthType: patchbay.AuthAPIKey, Secrets: secrets("apiKey", "k&y=1")}
	if _, err := rt.Execute(context.Background(), &Call{Connector: cc, ActionID: "list", Params: json.RawMessage(`{"q":"x"}`), Credentials: &creds{m: m}}); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.URI != "/things?q=x&api_key=k%26y%3D1" || r.Header.Get("Authorization") != "" {
		t.Errorf("URI %q, Authorization %q", r.URI, r.Header.Get("Authorization"))
	}
}

func TestBindErrors(t *testing.T) {
	checkLeaks(t)
	f := newTLSFake(t, nil)
	rt, _ := newTestRuntime(t, f, nil)
	cc := mustCompile(t, bindDoc)
	withConfig := func(region, tenant string) *patchbay.CredentialMaterial {
		m := apiKeyMaterial("k1")
		m.Config = map[string]string{"region": region, "tenant": tenant}
		return m
	}
	tests := []struct {
		name    string
		action  string
		params  string
		m       *patchbay.CredentialMaterial
		code    string
		details map[string]any
	}{
		{name: "RegionNotInEnum", action: "get_item", params: `{"itemId":"1"}`, m: withConfig("ap", "acme"), code: patchbay.EInvalid,
			details: map[string]any{"field": "region", "reason": "invalid_credential_field"}},
		{name: "TenantFailsPattern", action: "get_item", params: `{"itemId":"1"}`, m: withConfig("us", "Acme/.."), code: patchbay.EInvalid,
			details: map[string]any{"field": "tenant", "reason": "invalid_credential_field"}},
		{name: "MissingConfig", action: "get_item", params: `{"itemId":"1"}`, m: withConfig("us", ""), code: patchbay.EInvalid,
			details: map[string]any{"field": "tenant", "reason": "invalid_credential_field"}},
		{name: "EmptyPathValue", action: "get_item", params: `{"itemId":""}`, m: apiKeyMaterial("k"), code: patchbay.EInvalid,
			details: map[string]any{"errors": []ParamError{{Path: "/itemId", Message: "must not be empty"}}}},
		{name: "HeaderNewline", action: "get_item", params: `{"itemId":"1","trace":"a\r\nX-Evil: 1"}`, m: apiKeyMaterial("k"), code: patchbay.EInvalid,
			details: map[string]any{"errors": []ParamError{{Path: "/trace", Message: "header parameters must be strings without control characters"}}}},
		{name: "NoCredentials", action: "get_item", params: `{"itemId":"1"}`, code: patchbay.ECredentialNotFound,
			details: map[string]any{"reason": "missing"}},
		{name: "UnknownAction", action: "nope", params: `{}`, m: apiKeyMaterial("k"), code: patchbay.EActionNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := &Call{Connector: cc, ActionID: tt.action, Params: json.RawMessage(tt.params)}
			if tt.m != nil {
				call.Credentials = &creds{m: tt.m}
			}
			before := f.count.Load()
			_, err := rt.Execute(context.Background(), call)
			if got := patchbay.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
			if diff := cmp.Diff(tt.details, patchbay.ErrorDetails(err)); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if f.count.Load() != before {
				t.Error("a request was sent")
			}
		})
	}
}

func TestHTTPRefusedByDefault(t *testing.T) {
	checkLeaks(t)
	f := newFake(t, nil)
	d := &dialer{addr: f.addr()}
	rt := New(newClient(t, d), nil) // no CheckURL: https only
	cc := mustCompile(t, noAuthDoc)
	_, err := rt.Execute(context.Background(), &Call{Connector: cc, ActionID: "list"})
	if diff := cmp.Diff(map[string]any{"reason": "destination_blocked"}, errDetails(t, err)); diff != "" || patchbay.ErrorMessage(err) != "Upstream destination not allowed" {
		t.Errorf("err = %v; details diff:\n%s", err, diff)
	}
	if d.dials.Load() != 0 {
		t.Error("dialed a refused destination")
	}
	_ = http.StatusOK
}
