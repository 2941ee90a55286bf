package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// NewConnector returns a small valid custom connector.
func NewConnector(account, id string) *patchbay.Connector {
	return &patchbay.Connector{ID: id, Name: "Custom " + id, BaseURL: "https://api.example.com", AccountID: account, Origin: "definition",
		Source: patchbay.SourceCustom, Auth: []patchbay.AuthScheme{{Type: patchbay.AuthAPIKey, In: "header", Name: "X-Key"}},
		Resources: []patchbay.Resource{{ID: "items", Name: "Items", Actions: []patchbay.Action{{ID: "items_list", Name: "List", Method: "GET",
			Path: "/items", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string","x-in":"query"}}}`)}}}},
		CreatedAt: t0, UpdatedAt: t0}
}

func testConnectors(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	CreateAccount(t, s, "beta")
	v0, err := s.ConnectorsVersion(ctx, "acme")
	must(t, err)
	c := NewConnector("acme", "crm")
	must(t, s.CreateConnector(ctx, c, []byte("sealed-headers")))
	wantCode(t, s.CreateConnector(ctx, NewConnector("acme", "crm"), nil), patchbay.EConflict)
	must(t, s.CreateConnector(ctx, NewConnector("beta", "crm"), nil))
	v1, _ := s.ConnectorsVersion(ctx, "acme")
	if v1 == v0 {
		t.Fatal("ConnectorsVersion did not change on create")
	}
	got, headers, err := s.FindConnector(ctx, "acme", "crm")
	must(t, err)
	if string(headers) != "sealed-headers" || got.Name != c.Name || got.Source != patchbay.SourceCustom || got.Origin != "definition" ||
		string(got.Resources[0].Actions[0].Parameters) != string(c.Resources[0].Actions[0].Parameters) {
		t.Fatalf("FindConnector: %+v", got)
	}
	_, _, err = s.FindConnector(ctx, "acme", "nope")
	wantCode(t, err, patchbay.EConnectorNotFound)
	list, err := s.ListConnectors(ctx, "acme")
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListConnectors: %d", len(list))
	}
	accts, err := s.CustomConnectorAccounts(ctx, "crm")
	must(t, err)
	if len(accts) != 2 {
		t.Fatalf("CustomConnectorAccounts: %v", accts)
	}

	c.Name = "Renamed"
	must(t, s.UpdateConnector(ctx, c, nil))
	if c.Version != 2 {
		t.Fatalf("version after update %d", c.Version)
	}
	got, headers, _ = s.FindConnector(ctx, "acme", "crm")
	if got.Name != "Renamed" || headers != nil {
		t.Fatalf("update not stored: %q %q", got.Name, headers)
	}
	wantCode(t, s.UpdateConnector(ctx, NewConnector("acme", "nope"), nil), patchbay.EConnectorNotFound)

	cred := NewCredential("cred_0000000000000000000c", "acme", "u1", "crm", t0)
	cred.ConnectorSource = patchbay.SourceCustom
	must(t, s.CreateCredential(ctx, cred))
	_, err = s.DeleteConnector(ctx, "acme", "crm", false)
	wantCode(t, err, patchbay.EConflict)
	if patchbay.ErrorDetails(err)["credentialCount"] != 1 {
		t.Fatalf("details %v", patchbay.ErrorDetails(err))
	}
	deleted, err := s.DeleteConnector(ctx, "acme", "crm", true)
	must(t, err)
	if len(deleted) != 1 || deleted[0].ID != cred.ID || deleted[0].UserID != "u1" || deleted[0].Status != patchbay.CredentialActive {
		t.Fatalf("deleted credentials %+v", deleted)
	}
	_, err = s.FindCredential(ctx, "acme", "u1", cred.ID)
	wantCode(t, err, patchbay.ENotFound)
	_, err = s.DeleteConnector(ctx, "acme", "crm", false)
	wantCode(t, err, patchbay.EConnectorNotFound)
}

func testOAuthApps(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	app := &patchbay.OAuthApp{AccountID: "acme", ConnectorID: "github", ClientID: "client-1", SecretSealed: []byte("s1"),
		Scopes: []string{"repo"}, CreatedAt: t0, UpdatedAt: t0}
	n, err := s.PutOAuthApp(ctx, app)
	must(t, err)
	if len(n) != 0 {
		t.Fatalf("revoked %v on create", n)
	}
	oauthCred := NewCredential("cred_000000000000000000o1", "acme", "u1", "github", t0)
	oauthCred.AuthType = patchbay.AuthOAuth2
	keyCred := NewCredential("cred_000000000000000000k1", "acme", "u1", "github", t0)
	must(t, s.CreateCredential(ctx, oauthCred))
	must(t, s.CreateCredential(ctx, keyCred))
	// Same client ID: credentials stay.
	app.SecretSealed = []byte("s2")
	n, err = s.PutOAuthApp(ctx, app)
	must(t, err)
	if len(n) != 0 {
		t.Fatalf("revoked %v when only the secret changed", n)
	}
	got, err := s.FindOAuthApp(ctx, "acme", "github")
	must(t, err)
	if string(got.SecretSealed) != "s2" || got.ClientID != "client-1" || len(got.Scopes) != 1 {
		t.Fatalf("FindOAuthApp: %+v", got)
	}
	app.ClientID = "client-2"
	n, err = s.PutOAuthApp(ctx, app)
	must(t, err)
	c, _ := s.FindCredential(ctx, "acme", "u1", oauthCred.ID)
	k, _ := s.FindCredential(ctx, "acme", "u1", keyCred.ID)
	if len(n) != 1 || n[0].ID != oauthCred.ID || n[0].Status != patchbay.CredentialActive || c.Status != patchbay.CredentialRevoked ||
		k.Status != patchbay.CredentialActive {
		t.Fatalf("client change: revoked %+v, oauth %s, apiKey %s", n, c.Status, k.Status)
	}
	_, err = s.DeleteOAuthApp(ctx, "acme", "github")
	must(t, err)
	_, err = s.FindOAuthApp(ctx, "acme", "github")
	wantCode(t, err, patchbay.ENotFound)
	_, err = s.DeleteOAuthApp(ctx, "acme", "github")
	wantCode(t, err, patchbay.ENotFound)
}

func testFlows(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	f := &patchbay.Flow{ID: "flow00000000000000000000000000001", Kind: patchbay.FlowOAuth, AccountID: "acme", UserID: "u1", ServerID: "bot-1",
		Bind: true, ConnectorID: "github", ConnectorSource: patchbay.SourceBuiltin, AuthType: patchbay.AuthOAuth2, Name: "GitHub",
		Fields: map[string]string{"region": "eu"}, RedirectURI: "https://app.example.com/cb", VerifierSealed: []byte("v"),
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	must(t, s.CreateFlow(ctx, f))
	got, err := s.FindFlow(ctx, f.ID)
	must(t, err)
	if got.ServerID != "bot-1" || !got.Bind || got.Fields["region"] != "eu" || got.ConsumedAt != nil {
		t.Fatalf("FindFlow: %+v", got)
	}
	_, err = s.FindFlow(ctx, "nope")
	wantCode(t, err, patchbay.ENotFound)

	_, err = s.CompleteFlow(ctx, []byte("state-hash"), t0.Add(time.Minute))
	wantCode(t, err, patchbay.ENotFound)
	consumed, err := s.ConsumeFlow(ctx, f.ID, []byte("state-hash"), t0.Add(time.Minute))
	must(t, err)
	if consumed.ConsumedAt == nil {
		t.Fatal("not consumed")
	}
	_, err = s.ConsumeFlow(ctx, f.ID, []byte("other"), t0.Add(time.Minute))
	wantCode(t, err, patchbay.EConflict)
	done, err := s.CompleteFlow(ctx, []byte("state-hash"), t0.Add(2*time.Minute))
	must(t, err)
	if done.ID != f.ID || done.CompletedAt == nil {
		t.Fatalf("CompleteFlow: %+v", done)
	}
	_, err = s.CompleteFlow(ctx, []byte("state-hash"), t0.Add(2*time.Minute))
	wantCode(t, err, patchbay.EConflict)

	late := *f
	late.ID, late.StateHash = "flow00000000000000000000000000002", nil
	must(t, s.CreateFlow(ctx, &late))
	_, err = s.ConsumeFlow(ctx, late.ID, nil, t0.Add(11*time.Minute))
	wantCode(t, err, patchbay.EConflict)
	if patchbay.ErrorDetails(err)["reason"] != "expired" {
		t.Fatalf("details %v", patchbay.ErrorDetails(err))
	}
	n, err := s.PruneFlows(ctx, t0.Add(time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("pruned %d flows", n)
	}
}
