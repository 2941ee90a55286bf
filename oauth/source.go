package oauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

var _ connector.CredentialSource = (*Source)(nil)

// Source yields the material of one credential for one tool call; it
// satisfies connector.CredentialSource. It holds only the sealed record:
// every Material call opens it afresh.
type Source struct {
	m           *Manager
	redirectURI string // for reconnect links (§13.5): used if allowed
	serverID    string

	mu sync.Mutex
	c  *patchbay.Credential
}

// Source returns the credential source of c for a call through serverID
// ("" over REST). redirectURI is the request's x-redirect-uri, used for a
// reconnect link if it passes §13.3.
func (m *Manager) Source(c *patchbay.Credential, redirectURI, serverID string) *Source {
	return &Source{m: m, c: c, redirectURI: redirectURI, serverID: serverID}
}

func (s *Source) current() *patchbay.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *Source) set(c *patchbay.Credential) {
	s.mu.Lock()
	if c.Revision >= s.c.Revision {
		s.c = c
	}
	s.mu.Unlock()
}

// Material opens the credential. An oauth2 access token that expires within
// 60 s is refreshed first (§13.5). Errors: CREDENTIAL_NOT_FOUND with reason
// and, for oauth2, a reconnect oauthUrl when the credential is not active or
// becomes expired or needs_reauth; UPSTREAM_ERROR / UPSTREAM_TIMEOUT when the
// token endpoint fails transiently (status unchanged); an internal error
// when the record does not decrypt.
func (s *Source) Material(ctx context.Context) (*patchbay.CredentialMaterial, error) {
	c := s.current()
	if c.Status != patchbay.CredentialActive {
		return nil, s.m.notActive(ctx, c, c.Status, s.redirectURI, s.serverID)
	}
	if c.AuthType == patchbay.AuthOAuth2 && s.m.expiring(c) {
		fresh, err := s.m.refresh(ctx, c, "expiring")
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		s.set(fresh)
		c = fresh
	}
	return s.m.material(ctx, c)
}

// Refresh is called once after an upstream 401 (§7.4): it refreshes the
// token, or reuses the result of a refresh that happened meanwhile, and
// returns the new material. Errors as Material.
func (s *Source) Refresh(ctx context.Context, stale *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
	c := s.current()
	if c.AuthType != patchbay.AuthOAuth2 {
		return nil, fmt.Errorf("oauth: refresh of a %s credential", c.AuthType)
	}
	fresh, err := s.m.refresh(ctx, c, "upstream_401")
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	s.set(fresh)
	return s.m.material(ctx, fresh)
}

// MarkNeedsReauth records that the upstream still answered 401 after a
// refresh (§12.1): the credential becomes needs_reauth and the returned
// error is the §12.4 tool error with a reconnect link.
func (s *Source) MarkNeedsReauth(ctx context.Context) error {
	c := s.current()
	upd := *c
	upd.Status = patchbay.CredentialNeedsReauth
	if c.Status != upd.Status {
		if err := s.m.stores.SetCredentialStatus(ctx, c.AccountID, c.ID, upd.Status); err != nil {
			return err
		}
		s.m.statusChanged(ctx, &upd, c.Status, actorFrom(ctx, c.UserID))
		s.m.changed(ctx, &upd)
	}
	s.mu.Lock()
	s.c = &upd
	s.mu.Unlock()
	return s.m.notActive(ctx, &upd, upd.Status, s.redirectURI, s.serverID)
}

// fail turns refresh outcomes into the tool-facing error.
func (s *Source) fail(ctx context.Context, err error) error {
	var ie *inactiveError
	if errors.As(err, &ie) {
		s.mu.Lock()
		s.c = ie.c
		s.mu.Unlock()
		return s.m.notActive(ctx, ie.c, ie.c.Status, s.redirectURI, s.serverID)
	}
	return err
}

func (m *Manager) expiring(c *patchbay.Credential) bool {
	return c.ExpiresAt != nil && c.ExpiresAt.Sub(m.now()) < refreshSkew
}

// material opens c into what the runtime needs.
func (m *Manager) material(ctx context.Context, c *patchbay.Credential) (*patchbay.CredentialMaterial, error) {
	sec, err := m.openSecret(ctx, c)
	if err != nil {
		return nil, err
	}
	out := &patchbay.CredentialMaterial{CredentialID: c.ID, AuthType: c.AuthType, Config: c.Config}
	if len(sec.Fields) > 0 {
		out.Secrets = make(map[string]patchbay.Secret, len(sec.Fields))
		for k, v := range sec.Fields {
			out.Secrets[k] = patchbay.NewSecret(v)
		}
	}
	if sec.AccessToken != "" {
		out.AccessToken = patchbay.NewSecret(sec.AccessToken)
	}
	return out, nil
}

// inactiveError says the credential is (now) not active; each caller turns
// it into its own §12.4 error, with its own redirect URI.
type inactiveError struct{ c *patchbay.Credential }

func (e *inactiveError) Error() string { return "credential " + e.c.ID + " is " + e.c.Status }

// flight is one refresh in progress; waiters share its outcome.
type flight struct {
	done chan struct{}
	c    *patchbay.Credential
	err  error
}

// refresh brings known up to date: one refresh per credential at a time in
// this process (waiters reuse the result), serialized across instances by
// the Locker, and skipped when the stored credential already moved past
// known (someone else refreshed).
func (m *Manager) refresh(ctx context.Context, known *patchbay.Credential, why string) (*patchbay.Credential, error) {
	m.mu.Lock()
	if f, ok := m.flights[known.ID]; ok {
		m.mu.Unlock()
		select {
		case <-f.done:
			return f.c, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	m.flights[known.ID] = f
	m.mu.Unlock()

	// The leader works for every waiter, so its own caller going away must
	// not cancel the refresh; the timeouts below bound it.
	f.c, f.err = m.doRefresh(context.WithoutCancel(ctx), known, why)

	m.mu.Lock()
	delete(m.flights, known.ID)
	m.mu.Unlock()
	close(f.done)
	return f.c, f.err
}

func (m *Manager) doRefresh(ctx context.Context, known *patchbay.Credential, why string) (*patchbay.Credential, error) {
	ctx, cancel := context.WithTimeout(ctx, lockTTL+tokenTimeout)
	defer cancel()
	if m.opts.Locker != nil {
		unlock, err := m.opts.Locker.Lock(ctx, "pb:lock:refresh:"+known.ID, lockTTL)
		if err != nil {
			// The revision compare-and-swap below still keeps the store
			// consistent; only a duplicate provider call is risked.
			m.log.WarnContext(ctx, "oauth: refresh lock unavailable", "credential_id", known.ID, "error", err.Error())
		} else {
			defer unlock()
		}
	}
	cur, err := m.stores.FindCredential(ctx, known.AccountID, known.UserID, known.ID)
	if patchbay.IsCode(err, patchbay.ENotFound) {
		return nil, errMissing(known.ID)
	}
	if err != nil {
		return nil, err
	}
	if cur.Status != patchbay.CredentialActive {
		return nil, &inactiveError{c: cur}
	}
	if !m.expiring(cur) && (why == "expiring" || cur.Revision != known.Revision) {
		m.refreshOutcome("reused")
		return cur, nil
	}
	sec, err := m.openSecret(ctx, cur)
	if err != nil {
		return nil, err
	}
	if sec.RefreshToken == "" {
		to := patchbay.CredentialNeedsReauth
		if cur.ExpiresAt != nil && !m.now().Before(*cur.ExpiresAt) || why == "expiring" {
			to = patchbay.CredentialExpired
		}
		return m.deactivate(ctx, cur, to, "no_refresh_token")
	}
	conn, err := m.connectors.Connector(ctx, cur.AccountID, cur.ConnectorID)
	if err != nil {
		return nil, err
	}
	scheme := conn.Scheme(patchbay.AuthOAuth2)
	if scheme == nil {
		return nil, errUnsupportedType(conn, patchbay.AuthOAuth2)
	}
	a, err := m.resolveApp(ctx, cur.AccountID, cur.ConnectorID, scheme, true)
	if err != nil {
		return nil, err
	}
	tok, err := m.refreshGrant(ctx, scheme, a, sec.RefreshToken)
	if err != nil {
		tf := classify(err)
		if tf.rejected {
			// Without a cross-instance lock another instance may have
			// refreshed first, and a provider that rotates refresh tokens
			// rejects the second grant: that is no reason to disconnect.
			if fresh := m.refreshedMeanwhile(ctx, cur); fresh != nil {
				m.refreshOutcome("reused")
				return fresh, nil
			}
			return m.deactivate(ctx, cur, patchbay.CredentialNeedsReauth, tf.reason())
		}
		e := credentialEvent("credential.refresh_failed", cur, patchbay.Actor{Kind: patchbay.ActorSystem, UserID: cur.UserID})
		e.Outcome = patchbay.OutcomeFailure
		e.Details = map[string]any{"reason": tf.reason()}
		m.audit(ctx, e)
		m.refreshOutcome("error")
		m.log.WarnContext(ctx, "oauth: refresh failed", "credential_id", cur.ID, "reason", tf.reason())
		return nil, tf.upstreamError()
	}
	upd := *cur
	next := patchbay.CredentialSecret{AccessToken: tok.access, RefreshToken: tok.refresh, TokenType: tok.tokenType, Fields: sec.Fields}
	if next.RefreshToken == "" {
		next.RefreshToken = sec.RefreshToken
	}
	if upd.Sealed, err = m.sealSecret(ctx, &upd, &next); err != nil {
		return nil, err
	}
	upd.ExpiresAt = m.expiry(tok)
	upd.Scopes = grantedScopes(tok, nil, scheme, cur.Scopes)
	if extras := placeholderValues(conn, schemeFields(scheme), tok.extras); len(extras) > 0 {
		upd.Config = maps.Clone(cur.Config)
		if upd.Config == nil {
			upd.Config = map[string]string{}
		}
		maps.Copy(upd.Config, extras)
	}
	err = m.stores.UpdateCredentialSecret(ctx, &upd)
	if patchbay.IsCode(err, patchbay.EConflict) {
		// Another instance stored its refresh first: use its result.
		other, ferr := m.stores.FindCredential(ctx, cur.AccountID, cur.UserID, cur.ID)
		if ferr != nil {
			return nil, ferr
		}
		if other.Status != patchbay.CredentialActive {
			return nil, &inactiveError{c: other}
		}
		m.refreshOutcome("reused")
		return other, nil
	}
	if err != nil {
		return nil, err
	}
	e := credentialEvent("credential.refreshed", &upd, patchbay.Actor{Kind: patchbay.ActorSystem, UserID: upd.UserID})
	e.Details = map[string]any{"reason": why}
	m.audit(ctx, e)
	m.refreshOutcome("success")
	m.log.DebugContext(ctx, "oauth: credential refreshed", "credential_id", upd.ID, "rotated", tok.refresh != "" && tok.refresh != sec.RefreshToken)
	m.changed(ctx, &upd)
	return &upd, nil
}

// deactivate sets cur's status after a refresh could not happen and
// records why (credential.refresh_failed, credential.status_changed).
// refreshedMeanwhile returns the stored credential when a newer, usable
// token was stored after cur was read, else nil.
func (m *Manager) refreshedMeanwhile(ctx context.Context, cur *patchbay.Credential) *patchbay.Credential {
	fresh, err := m.stores.FindCredential(ctx, cur.AccountID, cur.UserID, cur.ID)
	if err != nil || fresh.Revision == cur.Revision || fresh.Status != patchbay.CredentialActive || m.expiring(fresh) {
		return nil
	}
	return fresh
}

// deactivate sets the status with a compare-and-swap on the revision, so
// that a refresh stored meanwhile by another instance wins: then that
// credential is returned instead of an error.
func (m *Manager) deactivate(ctx context.Context, cur *patchbay.Credential, to, reason string) (*patchbay.Credential, error) {
	upd := *cur
	upd.Status = to
	if err := m.stores.UpdateCredentialSecret(ctx, &upd); err != nil {
		if patchbay.IsCode(err, patchbay.EConflict) {
			if fresh := m.refreshedMeanwhile(ctx, cur); fresh != nil {
				m.refreshOutcome("reused")
				return fresh, nil
			}
			if fresh, ferr := m.stores.FindCredential(ctx, cur.AccountID, cur.UserID, cur.ID); ferr == nil && fresh.Status != patchbay.CredentialActive {
				return nil, &inactiveError{c: fresh}
			}
		}
		return nil, err
	}
	actor := patchbay.Actor{Kind: patchbay.ActorSystem, UserID: cur.UserID}
	e := credentialEvent("credential.refresh_failed", &upd, actor)
	e.Outcome = patchbay.OutcomeFailure
	e.Details = map[string]any{"reason": reason}
	m.audit(ctx, e)
	m.statusChanged(ctx, &upd, cur.Status, actor)
	m.refreshOutcome(to)
	m.log.InfoContext(ctx, "oauth: credential deactivated", "credential_id", cur.ID, "status", to, "reason", reason)
	m.changed(ctx, &upd)
	return nil, &inactiveError{c: &upd}
}

func errMissing(id string) error {
	return patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason("missing").With("credentialId", id)
}
