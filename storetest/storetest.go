package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/vault"
)

// Store is everything a store implements.
type Store interface {
	patchbay.AccountService
	patchbay.APIKeyService
	patchbay.ServerService
	patchbay.CredentialService
	patchbay.AuditService
	patchbay.ConnectorService
	patchbay.OAuthAppService
	patchbay.FlowService
	vault.KeyStore
	vault.RecordStore
	UseNonce(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error)
}

// Run runs the whole suite. open returns a new, empty, migrated store for
// each subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open(t)) })
	t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, open(t)) })
	t.Run("Servers", func(t *testing.T) { testServers(t, open(t)) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("Nonces", func(t *testing.T) { testNonces(t, open(t)) })
	t.Run("Connectors", func(t *testing.T) { testConnectors(t, open(t)) })
	t.Run("OAuthApps", func(t *testing.T) { testOAuthApps(t, open(t)) })
	t.Run("Flows", func(t *testing.T) { testFlows(t, open(t)) })
	t.Run("Rotation", func(t *testing.T) { testRotation(t, open(t)) })
}

var t0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := patchbay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// CreateAccount creates an account with a dummy sealed JWT secret.
func CreateAccount(t *testing.T, s Store, id string) *patchbay.Account {
	t.Helper()
	a := &patchbay.Account{ID: id, Name: "Account " + id, CreatedAt: t0, UpdatedAt: t0,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: []byte("sealed-1-" + id), CreatedAt: t0}}
	must(t, s.CreateAccount(context.Background(), a))
	return a
}

func testAccounts(t *testing.T, s Store) {
	ctx := context.Background()
	a := CreateAccount(t, s, "acme")
	wantCode(t, s.CreateAccount(ctx, &patchbay.Account{ID: "acme", Name: "x", JWTCurrent: patchbay.JWTSecret{Version: 1}}), patchbay.EConflict)
	_, err := s.FindAccount(ctx, "nope")
	wantCode(t, err, patchbay.ENotFound)

	got, err := s.FindAccount(ctx, "acme")
	must(t, err)
	if diff := cmp.Diff(a, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("FindAccount (-want +got):\n%s", diff)
	}

	upd, err := s.UpdateAccount(ctx, "acme", func(a *patchbay.Account) (bool, error) {
		a.Name = "Acme Inc"
		a.AllowedRedirectURIs = []string{"https://app.example.com/cb"}
		a.JWTPublicKeys = json.RawMessage(`{"keys":[]}`)
		return true, nil
	})
	must(t, err)
	if upd.Version != a.Version+1 {
		t.Fatalf("version %d after update, want %d", upd.Version, a.Version+1)
	}
	got, err = s.FindAccount(ctx, "acme")
	must(t, err)
	if got.Name != "Acme Inc" || len(got.AllowedRedirectURIs) != 1 || string(got.JWTPublicKeys) != `{"keys":[]}` {
		t.Fatalf("update not stored: %+v", got)
	}
	// An error from fn aborts without writing.
	_, err = s.UpdateAccount(ctx, "acme", func(a *patchbay.Account) (bool, error) {
		a.Name = "lost"
		return true, patchbay.Errorf(patchbay.EInvalid, "no")
	})
	wantCode(t, err, patchbay.EInvalid)
	got, _ = s.FindAccount(ctx, "acme")
	if got.Name != "Acme Inc" {
		t.Fatalf("aborted update was written: %q", got.Name)
	}

	// Rotation: current becomes previous; the one before is dropped.
	grace := t0.Add(24 * time.Hour)
	r, err := s.RotateJWTSecret(ctx, "acme", patchbay.JWTSecret{Version: 2, Sealed: []byte("s2"), CreatedAt: t0}, grace)
	must(t, err)
	if r.JWTCurrent.Version != 2 || r.JWTPrevious == nil || r.JWTPrevious.Version != 1 {
		t.Fatalf("after rotation: current %d previous %+v", r.JWTCurrent.Version, r.JWTPrevious)
	}
	_, err = s.RotateJWTSecret(ctx, "acme", patchbay.JWTSecret{Version: 3, Sealed: []byte("s3"), CreatedAt: t0}, grace)
	must(t, err)
	got, err = s.FindAccount(ctx, "acme")
	must(t, err)
	if got.JWTCurrent.Version != 3 || string(got.JWTCurrent.Sealed) != "s3" || got.JWTPrevious == nil ||
		string(got.JWTPrevious.Sealed) != "s2" || !got.JWTPreviousValidUntil.Equal(grace) {
		t.Fatalf("after second rotation: %+v previous %+v", got.JWTCurrent, got.JWTPrevious)
	}
	_, err = s.RotateJWTSecret(ctx, "acme", patchbay.JWTSecret{Version: 3, Sealed: []byte("again")}, grace)
	wantCode(t, err, patchbay.EConflict)

	CreateAccount(t, s, "beta")
	list, err := s.ListAccounts(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "acme" || list[1].ID != "beta" {
		t.Fatalf("ListAccounts: %+v", list)
	}
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func newKey(id, account, user, role string, created time.Time) *patchbay.APIKey {
	return &patchbay.APIKey{ID: id, AccountID: account, UserID: user, Name: id, Role: role, Prefix: "pb_" + id[:4],
		Hash: hash(id), CreatedAt: created}
}

func testAPIKeys(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	CreateAccount(t, s, "beta")
	exp := t0.Add(time.Hour)
	k1 := newKey("key_admin1", "acme", "admin", patchbay.RoleAdmin, t0)
	k2 := newKey("key_user01", "acme", "cust-42", patchbay.RoleUser, t0.Add(time.Second))
	k2.ExpiresAt = &exp
	k2.RequireSignature = true
	k2.SigningSecretSealed = []byte("sealed-signing")
	k3 := newKey("key_beta01", "beta", "admin", patchbay.RoleAdmin, t0)
	for _, k := range []*patchbay.APIKey{k1, k2, k3} {
		must(t, s.CreateAPIKey(ctx, k))
	}
	wantCode(t, s.CreateAPIKey(ctx, newKey("key_admin1", "acme", "x", patchbay.RoleUser, t0)), patchbay.EConflict)

	got, err := s.FindAPIKeyByHash(ctx, hash("key_user01"))
	must(t, err)
	if diff := cmp.Diff(k2, got); diff != "" {
		t.Fatalf("FindAPIKeyByHash (-want +got):\n%s", diff)
	}
	_, err = s.FindAPIKeyByHash(ctx, hash("nope"))
	wantCode(t, err, patchbay.ENotFound)

	list, err := s.ListAPIKeys(ctx, "acme")
	must(t, err)
	if len(list) != 2 || list[0].ID != "key_user01" || list[1].ID != "key_admin1" {
		t.Fatalf("ListAPIKeys newest first: got %v", ids(list))
	}

	has, err := s.UserHasAPIKey(ctx, "acme", "cust-42")
	must(t, err)
	if !has {
		t.Fatal("UserHasAPIKey(cust-42) = false")
	}
	has, _ = s.UserHasAPIKey(ctx, "beta", "cust-42")
	if has {
		t.Fatal("UserHasAPIKey crosses accounts")
	}

	must(t, s.TouchAPIKey(ctx, "key_admin1", t0.Add(time.Minute)))
	got, _ = s.FindAPIKeyByHash(ctx, hash("key_admin1"))
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("lastUsedAt = %v", got.LastUsedAt)
	}

	// Another account's key is not found; the last live admin key cannot go.
	_, err = s.DeleteAPIKey(ctx, "acme", "key_beta01", t0)
	wantCode(t, err, patchbay.ENotFound)
	_, err = s.DeleteAPIKey(ctx, "acme", "key_admin1", t0)
	wantCode(t, err, patchbay.EConflict)
	// An expired admin key does not count as a live one.
	k4 := newKey("key_admin2", "acme", "ops", patchbay.RoleAdmin, t0)
	k4.ExpiresAt = &exp
	must(t, s.CreateAPIKey(ctx, k4))
	_, err = s.DeleteAPIKey(ctx, "acme", "key_admin1", t0.Add(2*time.Hour))
	wantCode(t, err, patchbay.EConflict)
	del, err := s.DeleteAPIKey(ctx, "acme", "key_admin1", t0)
	must(t, err)
	if del.ID != "key_admin1" {
		t.Fatalf("deleted %q", del.ID)
	}
	_, err = s.FindAPIKeyByHash(ctx, hash("key_admin1"))
	wantCode(t, err, patchbay.ENotFound)
	_, err = s.DeleteAPIKey(ctx, "acme", "key_user01", t0)
	must(t, err)
}

func ids(keys []*patchbay.APIKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// NewServer returns a valid server for tests.
func NewServer(id, account, owner, name string, created time.Time) *patchbay.Server {
	allowed := []string{"slack"}
	return &patchbay.Server{ID: id, AccountID: account, OwnerID: owner, Name: name, Mode: patchbay.ModeConnectivity, Cache: true,
		Restrictions: patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Allowlist, AllowedIDs: &allowed}},
		TokenHash:    hash("tok-" + id), TokenSealed: []byte("sealed-" + id), TokenExpiresAt: created.Add(90 * 24 * time.Hour),
		CreatedAt: created, UpdatedAt: created}
}

func testServers(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	CreateAccount(t, s, "beta")
	a := NewServer("bot-00000001", "acme", "cust-42", "Bot", t0)
	a.RateLimit = 500
	a.IsPublic = true
	must(t, s.CreateServer(ctx, a))
	if a.Version != 1 {
		t.Fatalf("new server version %d, want 1", a.Version)
	}
	got, err := s.FindServer(ctx, "bot-00000001")
	must(t, err)
	if diff := cmp.Diff(a, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("FindServer (-want +got):\n%s", diff)
	}
	_, err = s.FindServer(ctx, "nope")
	wantCode(t, err, patchbay.ENotFound)

	// Names are unique per (account, owner), case-sensitively.
	err = s.CreateServer(ctx, NewServer("bot-00000002", "acme", "cust-42", "Bot", t0))
	wantCode(t, err, patchbay.EConflict)
	if patchbay.ErrorDetails(err)["field"] != "name" {
		t.Fatalf("duplicate name details %v", patchbay.ErrorDetails(err))
	}
	must(t, s.CreateServer(ctx, NewServer("bot-00000003", "acme", "cust-42", "bot", t0.Add(time.Second))))
	must(t, s.CreateServer(ctx, NewServer("bot-00000004", "acme", "cust-43", "Bot", t0)))
	must(t, s.CreateServer(ctx, NewServer("bot-00000005", "beta", "cust-42", "Bot", t0)))
	err = s.CreateServer(ctx, NewServer("bot-00000001", "acme", "cust-99", "Other", t0))
	wantCode(t, err, patchbay.EConflict)
	if patchbay.ErrorDetails(err)["reason"] != "id_taken" {
		t.Fatalf("duplicate id details %v", patchbay.ErrorDetails(err))
	}
	must(t, s.CreateServer(ctx, NewServer("bot-00000000", "acme", "cust-42", "Zed", t0)))

	list, total, err := s.ListServers(ctx, "acme", "cust-42", 50, 0)
	must(t, err)
	if total != 3 || len(list) != 3 {
		t.Fatalf("ListServers: total %d, %d items", total, len(list))
	}
	want := []string{"bot-00000003", "bot-00000000", "bot-00000001"}
	for i, srv := range list {
		if srv.ID != want[i] {
			t.Fatalf("ListServers order: item %d is %s, want %s", i, srv.ID, want[i])
		}
	}
	page, total, err := s.ListServers(ctx, "acme", "cust-42", 1, 2)
	must(t, err)
	if total != 3 || len(page) != 1 || page[0].ID != "bot-00000001" {
		t.Fatalf("ListServers page: total %d %v", total, page)
	}

	// Update: version bump only on change; scoped to the account; name clash.
	unchanged, err := s.UpdateServer(ctx, "acme", "bot-00000001", func(*patchbay.Server) (bool, error) { return false, nil })
	must(t, err)
	if unchanged.Version != 1 {
		t.Fatalf("version %d after a no-op update", unchanged.Version)
	}
	upd, err := s.UpdateServer(ctx, "acme", "bot-00000001", func(srv *patchbay.Server) (bool, error) {
		srv.Description = "new"
		srv.Restrictions = patchbay.Restrictions{}
		return true, nil
	})
	must(t, err)
	if upd.Version != 2 || upd.Description != "new" {
		t.Fatalf("update: %+v", upd)
	}
	got, _ = s.FindServer(ctx, "bot-00000001")
	if got.Version != 2 || got.Description != "new" || !got.Restrictions.IsZero() {
		t.Fatalf("update not stored: %+v", got)
	}
	_, err = s.UpdateServer(ctx, "beta", "bot-00000001", func(*patchbay.Server) (bool, error) { return true, nil })
	wantCode(t, err, patchbay.ENotFound)
	_, err = s.UpdateServer(ctx, "acme", "bot-00000001", func(srv *patchbay.Server) (bool, error) {
		srv.Name = "Zed"
		return true, nil
	})
	wantCode(t, err, patchbay.EConflict)

	wantCode(t, s.DeleteServer(ctx, "beta", "bot-00000001"), patchbay.ENotFound)
	must(t, s.DeleteServer(ctx, "acme", "bot-00000001"))
	_, err = s.FindServer(ctx, "bot-00000001")
	wantCode(t, err, patchbay.ENotFound)
	wantCode(t, s.DeleteServer(ctx, "acme", "bot-00000001"), patchbay.ENotFound)
}

// NewCredential returns a valid credential for tests.
func NewCredential(id, account, user, connector string, created time.Time) *patchbay.Credential {
	return &patchbay.Credential{ID: id, AccountID: account, UserID: user, ConnectorID: connector, ConnectorSource: patchbay.SourceBuiltin,
		Name: connector, AuthType: patchbay.AuthAPIKey, Status: patchbay.CredentialActive, Config: map[string]string{"region": "eu"},
		Sealed: []byte("sealed-" + id), CreatedAt: created, UpdatedAt: created}
}

func testCredentials(t *testing.T, s Store) {
	ctx := context.Background()
	CreateAccount(t, s, "acme")
	CreateAccount(t, s, "beta")
	c1 := NewCredential("cred_00000000000000000001", "acme", "u1", "slack", t0)
	c2 := NewCredential("cred_00000000000000000002", "acme", "u1", "slack", t0.Add(time.Second))
	c3 := NewCredential("cred_00000000000000000003", "acme", "u1", "github", t0.Add(2*time.Second))
	c3.BoundServerID = "bot-00000001"
	c3.AuthType = patchbay.AuthOAuth2
	c3.Scopes = []string{"repo"}
	exp := t0.Add(time.Hour)
	c3.ExpiresAt = &exp
	other := NewCredential("cred_00000000000000000004", "acme", "u2", "slack", t0)
	foreign := NewCredential("cred_00000000000000000005", "beta", "u1", "slack", t0)
	for _, c := range []*patchbay.Credential{c1, c2, c3, other, foreign} {
		must(t, s.CreateCredential(ctx, c))
	}
	wantCode(t, s.CreateCredential(ctx, NewCredential(c1.ID, "acme", "u1", "slack", t0)), patchbay.EConflict)

	got, err := s.FindCredential(ctx, "acme", "u1", c3.ID)
	must(t, err)
	if diff := cmp.Diff(c3, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("FindCredential (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ name, account, user, id string }{
		{name: "OtherUser", account: "acme", user: "u2", id: c1.ID},
		{name: "OtherAccount", account: "beta", user: "u1", id: c1.ID},
		{name: "Unknown", account: "acme", user: "u1", id: "cred_xxxxxxxxxxxxxxxxxxxx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FindCredential(ctx, tt.account, tt.user, tt.id)
			wantCode(t, err, patchbay.ENotFound)
		})
	}

	// Order: last used first, never used last, then newest created.
	must(t, s.TouchCredential(ctx, "acme", c1.ID, t0.Add(time.Hour)))
	list, total, err := s.ListCredentials(ctx, "acme", "u1", patchbay.CredentialFilter{})
	must(t, err)
	gotIDs := []string{}
	for _, c := range list {
		gotIDs = append(gotIDs, c.ID)
	}
	if diff := cmp.Diff([]string{c1.ID, c3.ID, c2.ID}, gotIDs); total != 3 || diff != "" {
		t.Fatalf("ListCredentials total %d order (-want +got):\n%s", total, diff)
	}
	list, total, _ = s.ListCredentials(ctx, "acme", "u1", patchbay.CredentialFilter{ConnectorID: "slack", Limit: 1})
	if total != 2 || len(list) != 1 || list[0].ID != c1.ID {
		t.Fatalf("filtered list: total %d %v", total, list)
	}
	list, total, _ = s.ListCredentials(ctx, "acme", "u1", patchbay.CredentialFilter{BoundServerID: "bot-00000001"})
	if total != 1 || list[0].ID != c3.ID {
		t.Fatalf("bound list: total %d", total)
	}

	// Compare-and-swap of the secret.
	fresh, _ := s.FindCredential(ctx, "acme", "u1", c3.ID)
	stale := *fresh
	fresh.Sealed = []byte("refreshed")
	newExp := t0.Add(2 * time.Hour)
	fresh.ExpiresAt = &newExp
	must(t, s.UpdateCredentialSecret(ctx, fresh))
	stale.Sealed = []byte("lost update")
	wantCode(t, s.UpdateCredentialSecret(ctx, &stale), patchbay.EConflict)
	got, _ = s.FindCredential(ctx, "acme", "u1", c3.ID)
	if string(got.Sealed) != "refreshed" || got.Revision != fresh.Revision || !got.ExpiresAt.Equal(newExp) {
		t.Fatalf("after CAS: sealed %q revision %d/%d", got.Sealed, got.Revision, fresh.Revision)
	}
	// 20 concurrent refreshers from one revision: exactly one wins.
	base, _ := s.FindCredential(ctx, "acme", "u1", c3.ID)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := *base
			c.Sealed = []byte(fmt.Sprint("r", i))
			if err := s.UpdateCredentialSecret(ctx, &c); err == nil {
				wins.Add(1)
			} else if patchbay.ErrorCode(err) != patchbay.EConflict {
				t.Errorf("concurrent update: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent refreshes won, want 1", wins.Load())
	}

	must(t, s.SetCredentialStatus(ctx, "acme", c2.ID, patchbay.CredentialNeedsReauth))
	got, _ = s.FindCredential(ctx, "acme", "u1", c2.ID)
	if got.Status != patchbay.CredentialNeedsReauth {
		t.Fatalf("status %q", got.Status)
	}
	wantCode(t, s.SetCredentialStatus(ctx, "beta", c2.ID, patchbay.CredentialActive), patchbay.ENotFound)

	wantCode(t, s.DeleteCredential(ctx, "acme", "u2", c1.ID), patchbay.ENotFound)
	must(t, s.DeleteCredential(ctx, "acme", "u1", c1.ID))
	wantCode(t, s.DeleteCredential(ctx, "acme", "u1", c1.ID), patchbay.ENotFound)
}

func testAudit(t *testing.T, s Store) {
	ctx := context.Background()
	dur := int64(183)
	var events []*patchbay.AuditEvent
	for i := range 5 {
		e := &patchbay.AuditEvent{ID: fmt.Sprintf("evt_%026d", i), Type: "server.created", Time: t0.Add(time.Duration(i) * time.Millisecond),
			AccountID: "acme", Actor: patchbay.Actor{Kind: patchbay.ActorAPIKey, KeyID: "key_1", UserID: "admin"}, UserID: "admin",
			ServerID: "bot-1", RequestID: "req_1", Outcome: patchbay.OutcomeSuccess, ClientIP: "203.0.113.9",
			Details: map[string]any{"changedFields": []any{"name"}}}
		if i%2 == 1 {
			e.Type = "credential.created"
			e.UserID = "cust-42"
			e.DurationMs = &dur
		}
		events = append(events, e)
	}
	events = append(events, &patchbay.AuditEvent{ID: "evt_other", Type: "server.created", Time: t0, AccountID: "beta", Actor: patchbay.Actor{Kind: "system"}})
	must(t, s.WriteAudit(ctx, events...))

	got, more, err := s.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 2})
	must(t, err)
	if !more || len(got) != 2 || got[0].ID != events[4].ID || got[1].ID != events[3].ID {
		t.Fatalf("first page: more=%v %v", more, got)
	}
	if diff := cmp.Diff(events[3], got[1]); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	rest, more, err := s.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 10, BeforeTime: got[1].Time, BeforeID: got[1].ID})
	must(t, err)
	if more || len(rest) != 3 || rest[0].ID != events[2].ID {
		t.Fatalf("second page: more=%v %d", more, len(rest))
	}
	byType, _, _ := s.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 10, Type: "credential.*"})
	byUser, _, _ := s.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 10, UserID: "admin", Type: "server.created"})
	none, _, _ := s.ListAudit(ctx, "acme", patchbay.AuditFilter{Limit: 10, Type: "credential"})
	if len(byType) != 2 || len(byUser) != 3 || len(none) != 0 {
		t.Fatalf("filters: type %d user %d exact-prefix %d", len(byType), len(byUser), len(none))
	}
	n, err := s.PruneAudit(ctx, t0.Add(2*time.Millisecond))
	must(t, err)
	if n != 3 {
		t.Fatalf("pruned %d, want 3", n)
	}
}

func testNonces(t *testing.T, s Store) {
	ctx := context.Background()
	fresh, err := s.UseNonce(ctx, "key_1", "n7Qx2LpZr8Vw4Ks1", time.Minute)
	must(t, err)
	again, _ := s.UseNonce(ctx, "key_1", "n7Qx2LpZr8Vw4Ks1", time.Minute)
	otherKey, _ := s.UseNonce(ctx, "key_2", "n7Qx2LpZr8Vw4Ks1", time.Minute)
	if !fresh || again || !otherKey {
		t.Fatalf("fresh=%v again=%v otherKey=%v", fresh, again, otherKey)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseNonce(ctx, "key_1", "concurrent-nonce-1", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 50 concurrent uses were fresh, want 1", wins.Load())
	}
}
