package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// specServer is a fake SaaS API that checks every request against the
// OpenAPI document it was imported from (kin-openapi's openapi3filter) and
// records what it saw.
type specServer struct {
	*httptest.Server
	router routers.Router
	token  string // expected bearer token when the document requires one

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Line  string // METHOD path?query
	Body  string
	Error string // "" when the request is valid
}

func newSpecServer(t *testing.T, file, basePath string, reply func(r *http.Request) (int, string)) *specServer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	s := &specServer{token: "tok-e2e"}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := seenRequest{Line: r.Method + " " + r.URL.RequestURI(), Body: string(body)}
		if err := s.validate(r); err != nil {
			rec.Error = err.Error()
		}
		s.mu.Lock()
		s.seen = append(s.seen, rec)
		s.mu.Unlock()
		if rec.Error != "" {
			http.Error(w, rec.Error, http.StatusBadRequest)
			return
		}
		status, out := reply(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	s.StartTLS()
	t.Cleanup(s.Close)
	// The document's own servers point at the real SaaS; route on the fake.
	doc.Servers = openapi3.Servers{{URL: s.URL + basePath}}
	if s.router, err = legacy.NewRouter(doc, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *specServer) validate(r *http.Request) error {
	// A server sees only the request target; the router matches the
	// document's servers against the full URL.
	r.URL.Scheme, r.URL.Host = "https", r.Host
	route, pathParams, err := s.router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("no route: %w", err)
	}
	return openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{
			MultiError: true,
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				bearerLike := in.SecurityScheme.Type == "oauth2" ||
					in.SecurityScheme.Type == "http" && strings.EqualFold(in.SecurityScheme.Scheme, "bearer")
				if bearerLike && in.RequestValidationInput.Request.Header.Get("Authorization") == "Bearer "+s.token {
					return nil
				}
				return errors.New("no valid credentials")
			},
		},
	})
}

func (s *specServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// bearer is the credential of the Notion run.
type bearer struct{ token string }

func (b bearer) Material(context.Context) (*patchbay.CredentialMaterial, error) {
	return &patchbay.CredentialMaterial{AuthType: patchbay.AuthBearer, Secrets: map[string]patchbay.Secret{"token": patchbay.NewSecret(b.token)}}, nil
}

func (b bearer) Refresh(context.Context, *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
	return nil, errors.New("no refresh for bearer tokens")
}

// oauth is the credential of the Box run.
type oauth struct{ token string }

func (o oauth) Material(context.Context) (*patchbay.CredentialMaterial, error) {
	return &patchbay.CredentialMaterial{AuthType: patchbay.AuthOAuth2, AccessToken: patchbay.NewSecret(o.token)}, nil
}

func (o oauth) Refresh(context.Context, *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
	return nil, errors.New("no refresh in this test")
}

// runtimeFor imports file with the fake's base URL and compiles it.
func runtimeFor(t *testing.T, s *specServer, file, basePath string) (*connector.Runtime, *connector.Compiled) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	res := mustImport(t, data, &Options{BaseURL: s.URL + basePath})
	compiled, err := connector.Compile(res.Connector)
	if err != nil {
		t.Fatalf("Compile: %v (%v)", err, patchbay.ErrorDetails(err))
	}
	// The fake listens on loopback, which the production SSRF guard refuses.
	rt := connector.New(s.Client(), &connector.Options{CheckURL: func(*url.URL) error { return nil }})
	return rt, compiled
}

// TestEndToEnd imports a corpus document, executes read and write actions
// through the connector runtime against a fake that validates each request
// against the same document, and checks what the fake saw.
func TestEndToEnd(t *testing.T) {
	type call struct {
		action, params string
		wantLine       string // what the fake must have seen
		wantBody       string // JSON, compared as values; "" for none
	}
	tests := []struct {
		name, file, basePath string
		credentials          connector.CredentialSource
		reply                func(r *http.Request) (int, string)
		calls                []call
	}{
		{
			name: "Petstore", file: "oai-petstore.yaml", basePath: "/v1",
			reply: func(r *http.Request) (int, string) {
				if r.Method == http.MethodPost {
					return http.StatusCreated, `{}`
				}
				return http.StatusOK, `[{"id":1,"name":"Rex"}]`
			},
			calls: []call{
				{action: "listPets", params: `{"limit":5}`, wantLine: "GET /v1/pets?limit=5"},
				{action: "showPetById", params: `{"petId":"a b/c"}`, wantLine: "GET /v1/pets/a%20b%2Fc"},
				{action: "createPets", params: `{"id":7,"name":"Rex","tag":"dog"}`, wantLine: "POST /v1/pets",
					wantBody: `{"id":7,"name":"Rex","tag":"dog"}`},
			},
		},
		{
			name: "Notion31", file: "notion-api.json", credentials: bearer{"tok-e2e"},
			reply: func(*http.Request) (int, string) { return http.StatusOK, `{"object":"list","results":[]}` },
			calls: []call{
				{action: "get_users", params: `{"page_size":10,"Notion-Version":"2025-09-03"}`,
					wantLine: "GET /v1/users?page_size=10"},
				{action: "post_search", params: `{"query":"roadmap","sort":{"direction":"ascending","timestamp":"last_edited_time"},"Notion-Version":"2025-09-03"}`,
					wantLine: "POST /v1/search", wantBody: `{"query":"roadmap","sort":{"direction":"ascending","timestamp":"last_edited_time"}}`},
				{action: "patch_page", params: `{"page_id":"59833787-2cf9-4fdf-8782-e53db20768a5","in_trash":true,"Notion-Version":"2025-09-03"}`,
					wantLine: "PATCH /v1/pages/59833787-2cf9-4fdf-8782-e53db20768a5", wantBody: `{"in_trash":true}`},
			},
		},
		{
			// Box: OAuth2, query arrays sent comma-separated (explode:
			// false), nested body objects, a 3.0 document with allOf.
			name: "Box", file: "box-platform.json", basePath: "/2.0", credentials: oauth{"tok-e2e"},
			reply: func(r *http.Request) (int, string) {
				if r.Method == http.MethodPost {
					return http.StatusCreated, `{"id":"12","type":"folder"}`
				}
				return http.StatusOK, `{"entries":[],"total_count":0}`
			},
			calls: []call{
				{action: "get_folders_id_items", params: `{"folder_id":"0","fields":"id,name","limit":20,"sort":"name"}`,
					wantLine: "GET /2.0/folders/0/items?fields=id%2Cname&limit=20&sort=name"},
				{action: "post_folders", params: `{"name":"Reports","parent":{"id":"0"},"sync_state":"synced"}`,
					wantLine: "POST /2.0/folders", wantBody: `{"name":"Reports","parent":{"id":"0"},"sync_state":"synced"}`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newSpecServer(t, tt.file, tt.basePath, tt.reply)
			rt, compiled := runtimeFor(t, fake, tt.file, tt.basePath)
			for i, c := range tt.calls {
				res, err := rt.Execute(context.Background(), &connector.Call{
					AccountID: "acct", Connector: compiled, ActionID: c.action,
					Params: json.RawMessage(c.params), Credentials: tt.credentials,
				})
				seen := fake.requests()
				if len(seen) != i+1 {
					t.Fatalf("%s: the fake saw %d requests, want %d (err %v)", c.action, len(seen), i+1, err)
				}
				got := seen[i]
				if got.Error != "" {
					t.Errorf("%s: the fake rejected %s: %s", c.action, got.Line, got.Error)
				}
				if err != nil {
					t.Fatalf("%s: Execute: %v (%v)", c.action, err, patchbay.ErrorDetails(err))
				}
				if res.Status/100 != 2 {
					t.Errorf("%s: status %d", c.action, res.Status)
				}
				if got.Line != c.wantLine {
					t.Errorf("%s: request %q, want %q", c.action, got.Line, c.wantLine)
				}
				if c.wantBody != "" {
					if diff := cmp.Diff(js(t, c.wantBody), js(t, got.Body)); diff != "" {
						t.Errorf("%s: body (-want +got):\n%s", c.action, diff)
					}
				}
			}
		})
	}
}

// TestSpecServerRejects proves the fake's validation bites: a request that
// breaks the document is flagged.
func TestSpecServerRejects(t *testing.T) {
	fake := newSpecServer(t, "oai-petstore.yaml", "/v1", func(*http.Request) (int, string) { return 200, `{}` })
	resp, err := fake.Client().Post(fake.URL+"/v1/pets", "application/json", strings.NewReader(`{"name":7}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := fake.requests()
	if resp.StatusCode != http.StatusBadRequest || len(seen) != 1 || seen[0].Error == "" {
		t.Errorf("invalid request accepted: status %d, seen %+v", resp.StatusCode, seen)
	}
}
