package oauth

import (
	"context"
	"crypto/rand"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/frontdoor"
	"github.com/patchbay-mcp/patchbay/ids"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// Stores is the persistence the manager needs; the sqlite and postgres
// stores satisfy it.
type Stores interface {
	patchbay.CredentialService
	patchbay.FlowService
	patchbay.OAuthAppService
	patchbay.AccountService
	patchbay.ServerService
	patchbay.AuditService
}

// Sealer seals and opens records bound to an account and record ID;
// *vault.Vault satisfies it.
type Sealer interface {
	Seal(ctx context.Context, accountID, recordID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, accountID, recordID string, ciphertext []byte) ([]byte, error)
}

// Connectors resolves a connector ID for an account: the account's custom
// connector or a built-in one. An unknown ID is EConnectorNotFound.
type Connectors interface {
	Connector(ctx context.Context, accountID, connectorID string) (*patchbay.Connector, error)
}

// Locker serializes token refreshes of one credential across instances
// (§13.5: Redis lock pb:lock:refresh:<credentialId>, 30 s). Lock blocks until
// the lock is held or ctx ends; unlock releases it.
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// Defaults of Options.
const (
	DefaultFlowTTL = 10 * time.Minute
	// tokenTimeout bounds a code exchange or refresh at the token endpoint (§13.4).
	tokenTimeout = 30 * time.Second
	// revokeTimeout bounds the best-effort revocation on delete (§12.3).
	revokeTimeout = 5 * time.Second
	// refreshSkew: refresh before an upstream call when the access token
	// expires within this window (§13.5).
	refreshSkew = 60 * time.Second
	lockTTL     = 30 * time.Second
)

// Options configures a Manager. Nil means defaults.
type Options struct {
	// PublicURL is the externally visible base URL (no trailing slash), as
	// in {publicUrl}/oauth/callback.
	PublicURL string
	// HTTPClient calls token and revocation endpoints. nil: the default
	// SSRF guard's client (§15). Its CheckRedirect is wrapped so that a
	// request carrying client credentials never follows a cross-origin
	// redirect.
	HTTPClient *http.Client
	// InstanceApps are the instance-wide OAuth apps of --oauth-apps-file,
	// keyed by connector ID; an account's own app takes precedence.
	InstanceApps map[string]InstanceApp
	// Locker serializes refreshes across instances; nil means in-process
	// single-flight plus the store's revision compare-and-swap.
	Locker Locker
	Now    func() time.Time // nil: time.Now
	Random io.Reader        // nil: crypto/rand.Reader
	Logger *slog.Logger     // nil: discard
	// FlowTTL is how long a start link or form link lives (default 10 min).
	FlowTTL time.Duration
	// OnCredentialChanged is called after a credential was created,
	// reconnected, refreshed, changed status or was deleted, so that caches
	// of credentials can drop their copy.
	OnCredentialChanged func(ctx context.Context, c *patchbay.Credential)
	// OnRefresh counts refresh outcomes for patchbay_oauth_refresh_total:
	// "success", "reused", "needs_reauth", "expired" or "error".
	OnRefresh func(outcome string)
}

// Manager creates, reconnects, refreshes and deletes credentials and serves
// the browser side of the flows. It is safe for concurrent use.
type Manager struct {
	stores     Stores
	sealer     Sealer
	connectors Connectors
	opts       Options
	publicURL  string
	secure     bool // publicURL is https: __Host- cookies with Secure
	client     *http.Client
	now        func() time.Time
	random     io.Reader
	log        *slog.Logger
	pages      *template.Template
	mux        *http.ServeMux

	mu      sync.Mutex
	flights map[string]*flight // credential ID -> refresh in progress
}

// New returns a Manager. PublicURL must be set for links to work.
func New(stores Stores, sealer Sealer, connectors Connectors, opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlowTTL <= 0 {
		o.FlowTTL = DefaultFlowTTL
	}
	m := &Manager{
		stores:     stores,
		sealer:     sealer,
		connectors: connectors,
		opts:       o,
		publicURL:  strings.TrimRight(o.PublicURL, "/"),
		now:        o.Now,
		random:     o.Random,
		log:        o.Logger,
		pages:      parsePages(),
		flights:    make(map[string]*flight),
	}
	m.secure = strings.HasPrefix(strings.ToLower(m.publicURL), "https:")
	m.client = credentialClient(o.HTTPClient)
	m.mux = m.routes()
	return m
}

// credentialClient returns a copy of c (or of the default SSRF guard's
// client) that refuses cross-origin redirects: token and revocation requests
// carry client credentials (§15).
func credentialClient(c *http.Client) *http.Client {
	if c == nil {
		g, err := ssrf.New(nil)
		if err != nil { // the default policy has no entries to reject
			panic("oauth: default SSRF guard: " + err.Error())
		}
		c = g.Client(tokenTimeout)
	}
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(req.URL.Host, first.Host) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) > 3 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &cp
}

func (m *Manager) callbackURL() string { return m.publicURL + "/oauth/callback" }
func (m *Manager) donePage() string    { return m.publicURL + "/oauth/done" }

// nowUTC is the clock at second precision, the precision of stored times.
func (m *Manager) nowUTC() time.Time { return m.now().UTC().Truncate(time.Second) }

func (m *Manager) credentialID() string { return "cred_" + ids.Base62(m.random, 20) }
func (m *Manager) flowID() string       { return ids.Base62(m.random, 32) }

func (m *Manager) changed(ctx context.Context, c *patchbay.Credential) {
	if m.opts.OnCredentialChanged != nil && c != nil {
		m.opts.OnCredentialChanged(ctx, c)
	}
}

func (m *Manager) refreshOutcome(outcome string) {
	if m.opts.OnRefresh != nil {
		m.opts.OnRefresh(outcome)
	}
}

// audit writes one event. Request ID and client IP come from the front
// door's request record when there is one. A failed write is logged, not
// returned: the change it describes has already happened.
func (m *Manager) audit(ctx context.Context, e *patchbay.AuditEvent) {
	now := m.now().UTC()
	e.ID = ids.EventID(now)
	e.Time = now
	if e.Outcome == "" {
		e.Outcome = patchbay.OutcomeSuccess
	}
	info := frontdoor.InfoFrom(ctx)
	if e.RequestID == "" {
		e.RequestID = info.RequestID
	}
	if e.ClientIP == "" {
		e.ClientIP = info.ClientIP
	}
	if err := m.stores.WriteAudit(ctx, e); err != nil {
		m.log.ErrorContext(ctx, "oauth: audit write failed", "type", e.Type, "error", err.Error())
	}
}

// credentialEvent is an audit event about c.
func credentialEvent(typ string, c *patchbay.Credential, actor patchbay.Actor) *patchbay.AuditEvent {
	return &patchbay.AuditEvent{Type: typ, AccountID: c.AccountID, Actor: actor, UserID: c.UserID,
		ConnectorID: c.ConnectorID, CredentialID: c.ID, ServerID: c.BoundServerID}
}

// statusChanged records a status transition of c.
func (m *Manager) statusChanged(ctx context.Context, c *patchbay.Credential, from string, actor patchbay.Actor) {
	if from == c.Status {
		return
	}
	e := credentialEvent("credential.status_changed", c, actor)
	e.Details = map[string]any{"from": from, "to": c.Status}
	m.audit(ctx, e)
}

// actorFrom names the caller for audit: the principal in ctx when there is
// one, else the system acting for userID.
func actorFrom(ctx context.Context, userID string) patchbay.Actor {
	if p := patchbay.PrincipalFrom(ctx); p != nil && p.Kind != "" {
		return patchbay.Actor{Kind: p.Kind, KeyID: p.KeyID, UserID: p.UserID}
	}
	return patchbay.Actor{Kind: patchbay.ActorSystem, UserID: userID}
}
