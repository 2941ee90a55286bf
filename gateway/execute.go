package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/oauth"
	"github.com/patchbay-mcp/patchbay/shape"
)

// maxCacheable bounds cached shaped outputs (§10.4).
const maxCacheable = 1 << 20

func (h *Handler) executeTool(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	return h.execute(c, str(a, "connectorId"), str(a, "actionId"), a["parameters"], str(a, "credentialId"))
}

// execute runs one action (§7.4), for execute_action_alloy and direct tools.
func (h *Handler) execute(c *call, connectorID, actionID string, params json.RawMessage, credentialArg string) *mcp.CallToolResult {
	start := h.opts.Now()
	ids := []any{"connectorId", connectorID, "actionId", actionID}
	e, res, act, err := c.resolveAction(connectorID, actionID)
	if err != nil {
		h.deniedIf(c, err, connectorID, actionID)
		return c.fail(err, ids...)
	}
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	checked, err := h.runtime.Check(e.Compiled, actionID, params)
	if err != nil {
		return c.fail(err, ids...)
	}
	conn := e.Connector
	var cred *patchbay.Credential
	if len(conn.Auth) > 0 {
		if cred, err = h.selectCredential(c, conn, credentialArg); err != nil {
			return c.fail(err, ids...)
		}
		ids = append(ids, "credentialId", cred.ID)
	}
	credID := "-"
	if cred != nil {
		credID = cred.ID
	}
	meta := mcp.Meta{"patchbay/connectorId": connectorID, "patchbay/actionId": actionID}
	if cred != nil {
		meta["patchbay/credentialId"] = cred.ID
	}
	info, _ := e.Compiled.Action(actionID)
	cacheable := info.ReadOnly && c.server.Cache && h.cache != nil
	var key string
	if cacheable {
		if canon, err := connector.Canonical(params); err == nil {
			key = connector.CacheKey(c.principal.AccountID, c.principal.UserID, credID, connectorID, actionID, canon)
			if v, hit, err := h.cache.Get(c.ctx, key); err == nil && hit {
				h.metrics().cacheLookup("hit")
				c.mu.Lock()
				c.cacheHit = true
				c.mu.Unlock()
				meta["patchbay/upstreamStatus"] = 200
				meta["patchbay/cacheHit"] = true
				h.actionExecuted(c, connectorID, actionID, credID, start, 200, true, nil)
				r := okRaw(v)
				r.Meta = meta
				return r
			}
			h.metrics().cacheLookup("miss")
		}
	}

	var src connector.CredentialSource
	var osrc *oauth.Source
	if cred != nil {
		osrc = h.creds.Source(cred, c.redirectURI(), c.server.ID)
		src = osrc
	}

	callStart := h.opts.Now()
	result, err := h.runtime.Execute(c.ctx, &connector.Call{AccountID: c.principal.AccountID, Connector: e.Compiled, ActionID: actionID,
		Params: params, Credentials: src, Checked: checked})
	h.metrics().upstream(conn, err, h.opts.Now().Sub(callStart))
	reached := err == nil || reachedUpstream(err)
	if cred != nil && reached {
		now := h.opts.Now()
		h.toucher.touch(c.principal.AccountID, cred.ID, now)
		h.creds2.touched(c.principal.AccountID, c.principal.UserID, cred.ID, now)
	}
	if !info.ReadOnly && reached && h.cache != nil {
		_ = h.cache.DeleteGroup(context.WithoutCancel(c.ctx),
			connector.CredentialGroup(c.principal.AccountID, c.principal.UserID, credID, connectorID))
	}
	if err != nil {
		status := 0
		if s, ok := patchbay.ErrorDetails(err)["status"].(int); ok {
			status = s
		}
		if status == 401 && cred != nil && cred.AuthType == patchbay.AuthOAuth2 && osrc != nil {
			// Still 401 after the refresh and resend: the user must
			// reconnect (§12.1 needs_reauth).
			err = osrc.MarkNeedsReauth(context.WithoutCancel(c.ctx))
		}
		h.actionExecuted(c, connectorID, actionID, credID, start, status, false, err)
		return c.fail(shapeUpstreamError(err), ids...)
	}
	shaped, err := shape.Shape(result.Value, h.shapeSpec(res, act, conn))
	if err != nil {
		err = patchbay.Errorf(patchbay.EUpstream, "Upstream response invalid").Reason("invalid_response")
		h.actionExecuted(c, connectorID, actionID, credID, start, result.Status, false, err)
		return c.fail(err, ids...)
	}
	if cacheable && key != "" && len(shaped) <= maxCacheable {
		groups := []string{connector.CredentialGroup(c.principal.AccountID, c.principal.UserID, credID, connectorID),
			connector.ConnectorGroup(c.principal.AccountID, connectorID)}
		_ = h.cache.Set(context.WithoutCancel(c.ctx), key, shaped, h.opts.CacheTTL, groups...)
	}
	meta["patchbay/upstreamStatus"] = result.Status
	meta["patchbay/cacheHit"] = false
	h.actionExecuted(c, connectorID, actionID, credID, start, result.Status, false, nil)
	r := okRaw(shaped)
	r.Meta = meta
	return r
}

// reachedUpstream reports whether a failed call got an answer (any status)
// from the platform, for cache invalidation and lastUsedAt.
func reachedUpstream(err error) bool {
	d := patchbay.ErrorDetails(err)
	_, has := d["status"]
	return has || d["reason"] == "outcome_unknown"
}

// shapeUpstreamError applies §10.3 and the 5 KB cap to details.body.
func shapeUpstreamError(err error) error {
	var pe *patchbay.Error
	if !errors.As(err, &pe) {
		return err
	}
	body, ok := pe.Details["body"]
	if !ok {
		return err
	}
	cp := *pe
	cp.Details = make(map[string]any, len(pe.Details))
	for k, v := range pe.Details {
		cp.Details[k] = v
	}
	if raw, ok := body.(json.RawMessage); ok {
		cp.Details["body"] = shape.ErrorBody(raw, shape.MaxErrorBodyBytes)
	}
	return &cp
}

// shapeSpec is cached per action definition (immutable per version).
func (h *Handler) shapeSpec(res *patchbay.Resource, act *patchbay.Action, conn *patchbay.Connector) *shape.Spec {
	if v, ok := h.specs.Load(act); ok {
		return v.(*shape.Spec)
	}
	spec := &shape.Spec{ActionID: act.ID, ItemsPath: act.ItemsPath()}
	if res != nil {
		spec.ResourceID = res.ID
	}
	if d, err := describeAction(conn, act); err == nil {
		for _, p := range d.params {
			var name, in, desc string
			var required bool
			for _, kv := range p {
				switch kv.k {
				case "name":
					name = kv.v.(string)
				case "in":
					in = kv.v.(string)
				case "description":
					desc = kv.v.(string)
				case "required":
					required = kv.v.(bool)
				}
			}
			if in == "query" && !required {
				spec.QueryParams = append(spec.QueryParams, shape.Param{Name: name, In: in, Description: desc})
			}
		}
	}
	h.specs.Store(act, spec)
	return spec
}

func (c *call) redirectURI() string { return c.redirect }

// hasActiveCredential reports whether §12.4 could select a credential.
func (h *Handler) hasActiveCredential(c *call, conn *patchbay.Connector) bool {
	creds, err := h.candidates(c, conn)
	if err != nil {
		return false
	}
	for _, cr := range creds {
		if cr.Status == patchbay.CredentialActive {
			return true
		}
	}
	return false
}

// candidates are the effective user's credentials for the connector; under
// an unverified identity only those bound to this server (§12.4).
func (h *Handler) candidates(c *call, conn *patchbay.Connector) ([]*patchbay.Credential, error) {
	f := patchbay.CredentialFilter{ConnectorID: conn.ID}
	if c.principal.Unverified {
		f.BoundServerID = c.server.ID
	}
	key := credKey{account: c.principal.AccountID, user: c.principal.UserID, connector: conn.ID, bound: f.BoundServerID, catalog: c.view.Version}
	now := h.opts.Now()
	all, cached, gen := h.creds2.get(key, now)
	if !cached {
		var err error
		all, _, err = h.store.ListCredentials(c.ctx, c.principal.AccountID, c.principal.UserID, f)
		if err == nil {
			h.creds2.put(key, all, now, gen)
		} else {
			stale, ok := h.creds2.stale(key, now)
			if !ok {
				return nil, patchbay.Errorf(patchbay.EUnavailable, "Service unavailable").Wrap(err)
			}
			all = stale
		}
	}
	src := conn.Source
	if src == "" {
		src = patchbay.SourceBuiltin
	}
	out := make([]*patchbay.Credential, 0, len(all))
	for _, cr := range all {
		if cr.ConnectorSource == src {
			out = append(out, cr)
		}
	}
	return out, nil
}

// selectCredential applies §12.4.
func (h *Handler) selectCredential(c *call, conn *patchbay.Connector, arg string) (*patchbay.Credential, error) {
	cands, err := h.candidates(c, conn)
	if err != nil {
		return nil, err
	}
	find := func(id string) *patchbay.Credential {
		for _, cr := range cands {
			if cr.ID == id {
				return cr
			}
		}
		return nil
	}
	// 1. the header, when it names a candidate of this connector; 2. the
	// argument; 3. the most recently used active one, else the most recent
	// candidate to report.
	var chosen *patchbay.Credential
	if c.credHeader != "" {
		chosen = find(c.credHeader)
	}
	if chosen == nil && arg != "" {
		if chosen = find(arg); chosen == nil {
			return nil, patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason("missing").With("credentialId", arg)
		}
	}
	if chosen == nil {
		for _, cr := range cands {
			if cr.Status == patchbay.CredentialActive {
				return cr, nil
			}
		}
		if len(cands) == 0 {
			return nil, h.missingCredential(c, conn)
		}
		chosen = cands[0]
	}
	if chosen.Status == patchbay.CredentialActive {
		return chosen, nil
	}
	return nil, h.creds.NotActive(c.ctx, chosen, c.redirectURI(), c.server.ID)
}

// missingCredential tells the model how to connect (§7.4, issue 5).
func (h *Handler) missingCredential(c *call, conn *patchbay.Connector) error {
	err := patchbay.Errorf(patchbay.ECredentialNotFound, "Credential not found").Reason("missing").
		With("hint", "Call create_credential_alloy to connect "+conn.ID)
	if conn.Scheme(patchbay.AuthOAuth2) != nil && h.creds != nil {
		u, exp, ferr := h.creds.StartOAuth(c.ctx, oauth.FlowRequest{AccountID: c.principal.AccountID, UserID: c.principal.UserID,
			ServerID: c.server.ID, Bind: c.principal.Unverified, ConnectorID: conn.ID, AuthType: patchbay.AuthOAuth2,
			RedirectURI: c.redirectURI(), Actor: c.actor()})
		if ferr == nil {
			err = err.With("oauthUrl", u).With("oauthUrlExpiresAt", stamp(exp))
		}
	}
	return err
}
