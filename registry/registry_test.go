package registry_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/registry"
	"github.com/patchbay-mcp/patchbay/sqlite"
)

// pausingStore is the real store; the first ConnectorsVersion after arm
// blocks until release, so that a change can land between a view's
// version read and its caching.
type pausingStore struct {
	*sqlite.DB
	mu   sync.Mutex
	hook func()
}

func (s *pausingStore) ConnectorsVersion(ctx context.Context, accountID string) (int64, error) {
	v, err := s.DB.ConnectorsVersion(ctx, accountID)
	s.mu.Lock()
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return v, err
}

const def = `{"id":"acme","name":"Acme","baseUrl":"https://api.acme.example","resources":[{"id":"r","name":"R","actions":[
{"id":"a_get","name":"Get","method":"GET","path":"/a"}]}]}`

func customConnector(t *testing.T) *patchbay.Connector {
	t.Helper()
	c, err := connector.Parse([]byte(def), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	c.AccountID, c.Source, c.CreatedAt, c.UpdatedAt = "acct", patchbay.SourceCustom, now, now
	return c
}

// A view built from a version read before a change must not be cached or
// revalidated after the change's Invalidate: a deleted custom connector
// would stay visible for the TTL (§17.6: applied before the response).
func TestViewDoesNotKeepAReadFromBeforeAChange(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Second)
	if err := db.CreateAccount(ctx, &patchbay.Account{ID: "acct", Name: "A", CreatedAt: now, UpdatedAt: now,
		JWTCurrent: patchbay.JWTSecret{Version: 1, Sealed: bytes.Repeat([]byte{1}, 60), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	store := &pausingStore{DB: db}
	reg, err := registry.New(nil, store, &registry.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cached bool // a view exists before the read (revalidation) or not (first build)
	}{{"Revalidate", true}, {"Build", false}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.CreateConnector(ctx, customConnector(t), nil); err != nil {
				t.Fatal(err)
			}
			reg.Invalidate("acct")
			if tc.cached {
				if v, err := reg.View(ctx, "acct"); err != nil || v.Lookup("acme") == nil {
					t.Fatalf("view before: %v", err)
				}
				reg.Invalidate("acct") // some other change: the next View re-reads the version
			}
			read, release := make(chan struct{}), make(chan struct{})
			store.mu.Lock()
			store.hook = func() { close(read); <-release }
			store.mu.Unlock()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = reg.View(ctx, "acct")
			}()
			<-read
			if _, err := db.DeleteConnector(ctx, "acct", "acme", true); err != nil {
				t.Fatal(err)
			}
			reg.Invalidate("acct")
			close(release)
			<-done
			v, err := reg.View(ctx, "acct")
			if err != nil {
				t.Fatal(err)
			}
			if v.Lookup("acme") != nil {
				t.Fatal("a deleted connector is still visible after its Invalidate")
			}
		})
	}
}
