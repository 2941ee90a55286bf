package oauth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
)

func TestCreateCredential(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.canary(apiKeyCanary)
	e.canary("pw-canary-Lm3")
	ctx := context.Background()
	tests := []struct {
		name       string
		in         oauth.CreateInput
		wantCode   string
		wantReason string
		wantField  string
		want       credView
		wantSecret map[string]string
	}{
		{name: "APIKey", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey,
			Fields: map[string]string{"apiKey": apiKeyCanary, "region": "eu", "signingKey": "sk"}},
			want: credView{ConnectorID: "acme-crm", Name: "Acme CRM", AuthType: patchbay.AuthAPIKey, Status: patchbay.CredentialActive,
				Config: map[string]string{"region": "eu"}, Scopes: []string{}},
			wantSecret: map[string]string{"apiKey": apiKeyCanary, "signingKey": "sk"}},
		{name: "BasicNamedBound", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthBasic, Name: "Ops login", BoundServerID: "srv-1",
			Fields: map[string]string{"username": "ada", "password": "pw-canary-Lm3"}},
			want: credView{ConnectorID: "acme-crm", Name: "Ops login", AuthType: patchbay.AuthBasic, Status: patchbay.CredentialActive,
				BoundServerID: "srv-1", Config: map[string]string{}, Scopes: []string{}},
			wantSecret: map[string]string{"username": "ada", "password": "pw-canary-Lm3"}},
		{name: "Bearer", in: oauth.CreateInput{ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer, Fields: map[string]string{"token": "t"}},
			want: credView{ConnectorID: "bearer-only", Name: "Bearer Only", AuthType: patchbay.AuthBearer, Status: patchbay.CredentialActive,
				Config: map[string]string{}, Scopes: []string{}},
			wantSecret: map[string]string{"token": "t"}},
		{name: "MissingField", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"region": "eu"}},
			wantCode: patchbay.EInvalid, wantReason: "missing_field", wantField: "apiKey"},
		{name: "MissingExtraField", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"apiKey": "k"}},
			wantCode: patchbay.EInvalid, wantReason: "missing_field", wantField: "region"},
		{name: "UnknownField", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey,
			Fields: map[string]string{"apiKey": "k", "region": "eu", "token": "x"}},
			wantCode: patchbay.EInvalid, wantReason: "unknown_field", wantField: "token"},
		{name: "EmptyValue", in: oauth.CreateInput{ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer, Fields: map[string]string{"token": ""}},
			wantCode: patchbay.EInvalid, wantReason: "invalid_value", wantField: "token"},
		{name: "TooLong", in: oauth.CreateInput{ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer, Fields: map[string]string{"token": strings.Repeat("é", 8193)}},
			wantCode: patchbay.EInvalid, wantReason: "invalid_value", wantField: "token"},
		{name: "LongestValue", in: oauth.CreateInput{ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer, Fields: map[string]string{"token": strings.Repeat("é", 8192)}},
			want: credView{ConnectorID: "bearer-only", Name: "Bearer Only", AuthType: patchbay.AuthBearer, Status: patchbay.CredentialActive,
				Config: map[string]string{}, Scopes: []string{}},
			wantSecret: map[string]string{"token": strings.Repeat("é", 8192)}},
		{name: "Pattern", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey,
			Fields: map[string]string{"apiKey": "k", "region": "eu", "workspace": "Team 1"}},
			wantCode: patchbay.EInvalid, wantReason: "invalid_value", wantField: "workspace"},
		{name: "Enum", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"apiKey": "k", "region": "EU"}},
			wantCode: patchbay.EInvalid, wantReason: "invalid_value", wantField: "region"},
		{name: "OAuth2", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthOAuth2},
			wantCode: patchbay.EInvalid, wantReason: "use_oauth_flow"},
		{name: "UnsupportedType", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: patchbay.AuthBearer, Fields: map[string]string{"token": "t"}},
			wantCode: patchbay.EInvalid, wantReason: "unsupported_authentication_type"},
		{name: "UnknownType", in: oauth.CreateInput{ConnectorID: "acme-crm", AuthType: "digest"},
			wantCode: patchbay.EInvalid, wantReason: "unsupported_authentication_type"},
		{name: "NoAuth", in: oauth.CreateInput{ConnectorID: "no-auth", AuthType: patchbay.AuthAPIKey, Fields: map[string]string{"apiKey": "k"}},
			wantCode: patchbay.EInvalid, wantReason: "connector_has_no_auth"},
		{name: "UnknownConnector", in: oauth.CreateInput{ConnectorID: "nope", AuthType: patchbay.AuthAPIKey}, wantCode: patchbay.EConnectorNotFound},
		{name: "LongName", in: oauth.CreateInput{ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer, Name: strings.Repeat("n", 101),
			Fields: map[string]string{"token": "t"}}, wantCode: patchbay.EInvalid, wantField: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.AccountID, tt.in.UserID, tt.in.Actor = accountA, userA, apiActor
			c, err := e.m.CreateCredential(ctx, tt.in)
			if patchbay.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want %q", err, tt.wantCode)
			}
			if err != nil {
				e.noLeak("error", err.Error())
				if tt.wantReason != "" && reason(err) != tt.wantReason {
					t.Errorf("reason = %v, want %s", reason(err), tt.wantReason)
				}
				if tt.wantField != "" && errDetails(err)["field"] != tt.wantField {
					t.Errorf("field = %v, want %s", errDetails(err)["field"], tt.wantField)
				}
				return
			}
			if !patchbay.ValidCredentialID(c.ID) {
				t.Errorf("id %q", c.ID)
			}
			stored := e.findCredential(accountA, userA, c.ID)
			if diff := cmp.Diff(tt.want, view(stored)); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if strings.Contains(string(stored.Sealed), apiKeyCanary) {
				t.Error("secret stored in the clear")
			}
			mat, err := e.m.Source(stored, "", "").Material(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range mat.Secrets {
				got[k] = v.Reveal()
			}
			if diff := cmp.Diff(tt.wantSecret, got); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			var found *patchbay.AuditEvent
			for _, ev := range e.auditEvents(accountA, "credential.created") {
				if ev.CredentialID == c.ID {
					found = ev
				}
			}
			if found == nil || found.Actor != apiActor || found.ServerID != tt.in.BoundServerID || found.ConnectorID != tt.in.ConnectorID {
				t.Errorf("audit %+v", found)
			}
		})
	}
}

// TestIsolation: another user's or account's credential is not found
// through the manager; a sealed record moved to another account or record
// does not open.
func TestIsolation(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.canary(apiKeyCanary)
	ctx := context.Background()
	c, err := e.m.CreateCredential(ctx, oauth.CreateInput{AccountID: accountA, UserID: userA, ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer,
		Fields: map[string]string{"token": apiKeyCanary}})
	if err != nil {
		t.Fatal(err)
	}
	oc := e.connectNew(startReq("acme-crm"))

	t.Run("DeleteOtherUser", func(t *testing.T) {
		err := e.m.DeleteCredential(ctx, accountA, userB, c.ID, apiActor)
		if patchbay.ErrorCode(err) != patchbay.ENotFound {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("DeleteOtherAccount", func(t *testing.T) {
		err := e.m.DeleteCredential(ctx, accountB, userA, c.ID, apiActor)
		if patchbay.ErrorCode(err) != patchbay.ENotFound {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("ReconnectOtherUser", func(t *testing.T) {
		r := startReq("acme-crm")
		r.UserID, r.CredentialID = userB, oc.ID
		_, _, err := e.m.StartOAuth(ctx, r)
		if patchbay.ErrorCode(err) != patchbay.ECredentialNotFound {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("SealedMovedToOtherAccount", func(t *testing.T) {
		moved := *c
		moved.AccountID = accountB
		_, err := e.m.Source(&moved, "", "").Material(ctx)
		if err == nil || patchbay.ErrorCode(err) != patchbay.EInternal {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("SealedMovedToOtherRecord", func(t *testing.T) {
		moved := *oc
		moved.Sealed = c.Sealed
		_, err := e.m.Source(&moved, "", "").Material(ctx)
		if err == nil {
			t.Error("opened")
		}
	})
	t.Run("ListOtherUser", func(t *testing.T) {
		_, n, err := e.db.ListCredentials(ctx, accountA, userB, patchbay.CredentialFilter{})
		if err != nil || n != 0 {
			t.Errorf("user B sees %d credentials", n)
		}
	})
	// Still there for its owner.
	if _, err := e.m.Source(e.findCredential(accountA, userA, c.ID), "", "").Material(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteCredential(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.connectNew(startReq("acme-crm"))
	if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.FindCredential(ctx, accountA, userA, c.ID); patchbay.ErrorCode(err) != patchbay.ENotFound {
		t.Errorf("still stored: %v", err)
	}
	revoked := e.prov.revokedTokens()
	if len(revoked) != 1 || !strings.HasPrefix(revoked[0], "rt-") {
		t.Errorf("revoked %d tokens", len(revoked))
	}
	if ev := e.auditEvents(accountA, "credential.deleted"); len(ev) != 1 || ev[0].CredentialID != c.ID || ev[0].Actor != apiActor {
		t.Errorf("audit %+v", ev)
	}
	if !strings.Contains(e.changed.String(), c.ID) {
		t.Error("OnCredentialChanged not called")
	}
	if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); patchbay.ErrorCode(err) != patchbay.ENotFound {
		t.Errorf("second delete: %v", err)
	}

	t.Run("RevocationFailureIsIgnored", func(t *testing.T) {
		c := e.connectNew(startReq("acme-crm"))
		conn, _ := e.catalog.Connector(ctx, accountA, "acme-crm")
		conn.Auth[0].RevocationURL = "http://127.0.0.1:1/revoke"
		if err := e.m.DeleteCredential(ctx, accountA, userA, c.ID, apiActor); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoadInstanceApps(t *testing.T) {
	const secret = "file-secret-Qw7"
	tests := []struct {
		name    string
		yaml    string
		want    map[string]string // connector -> clientId + scopes
		wantErr string
	}{
		{name: "Valid", yaml: "acme-crm:\n  clientId: pb-acme\n  clientSecret: " + secret + "\n  scopes: [a, b]\nsales:\n  clientId: s\n  clientSecret: x\n",
			want: map[string]string{"acme-crm": "pb-acme a,b", "sales": "s "}},
		{name: "Empty", yaml: "", want: map[string]string{}},
		{name: "UnknownMember", yaml: "acme-crm:\n  clientId: a\n  clientSecret: " + secret + "\n  secret: " + secret + "\n", wantErr: "secret"},
		{name: "BadConnectorID", yaml: "Acme CRM:\n  clientId: a\n  clientSecret: b\n", wantErr: "not a valid connector ID"},
		{name: "MissingSecret", yaml: "acme-crm:\n  clientId: a\n", wantErr: "clientSecret must be 1 to 4096"},
		{name: "MissingClientID", yaml: "acme-crm:\n  clientSecret: " + secret + "\n", wantErr: "clientId must be 1 to 512"},
		{name: "SecretIsAList", yaml: "acme-crm:\n  clientId: a\n  clientSecret: [" + secret + "]\n", wantErr: "cannot unmarshal"},
		{name: "NotAMap", yaml: secret + "\n", wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "apps.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			apps, err := oauth.LoadInstanceApps(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("secret in error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for id, a := range apps {
				got[id] = a.ClientID + " " + strings.Join(a.Scopes, ",")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("apps (-want +got):\n%s", diff)
			}
			if tt.name == "Valid" && apps["acme-crm"].ClientSecret.Reveal() != secret {
				t.Error("secret not loaded")
			}
		})
	}
	if _, err := oauth.LoadInstanceApps(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func createBearer(token string) oauth.CreateInput {
	return oauth.CreateInput{AccountID: accountA, UserID: userA, ConnectorID: "bearer-only", AuthType: patchbay.AuthBearer,
		Fields: map[string]string{"token": token}}
}
