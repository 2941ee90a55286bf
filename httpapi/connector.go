package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/openapi"
	"github.com/patchbay-mcp/patchbay/registry"
	sj "github.com/patchbay-mcp/patchbay/strictjson"
	"github.com/patchbay-mcp/patchbay/upstream"
)

// Catalog is what the connector endpoints need besides the store.
type Catalog struct {
	Registry *registry.Registry
	// ListTools reads an upstream MCP server's tools (§11.6).
	ListTools func(ctx context.Context, url string, headers map[string]patchbay.Secret) ([]*mcp.Tool, error)
	// CheckURL is the SSRF save-time check (§15): a denied literal IP or
	// name gives an error.
	CheckURL func(u *url.URL) error
	// AllowHTTP says which hosts may use http (the SSRF allowlist).
	AllowHTTP func(host string) bool
	// Purge drops cached read results of a connector in an account.
	Purge func(ctx context.Context, accountID, connectorID string)
	// Changed reports a custom connector change (cache invalidation).
	Changed func(ctx context.Context, accountID string)
}

type connectorSummaryOut struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	Description         string   `json:"description"`
	Categories          []string `json:"categories"`
	Type                string   `json:"type"`
	Source              string   `json:"source"`
	AuthenticationTypes []string `json:"authenticationTypes"`
	ActionCount         int      `json:"actionCount"`
}

func connectorType(c *patchbay.Connector) string {
	if c.Type == "" {
		return patchbay.ConnectorREST
	}
	return c.Type
}

func sourceOf(c *patchbay.Connector) string {
	if c.Source == "" {
		return patchbay.SourceBuiltin
	}
	return c.Source
}

func (h *Handler) listConnectors(c *call) error {
	q := c.r.URL.Query()
	limit, err := intParam(q.Get("limit"), q.Has("limit"), "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	offset, err := intParam(q.Get("offset"), q.Has("offset"), "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	view, err := h.catalog.Registry.View(c.r.Context(), c.p.AccountID)
	if err != nil {
		return err
	}
	category, query := strings.ToLower(q.Get("category")), strings.ToLower(q.Get("query"))
	var all []connectorSummaryOut
	for _, e := range view.Entries {
		conn := e.Connector
		if category != "" && !hasCategory(conn, category) {
			continue
		}
		if query != "" && !strings.Contains(strings.ToLower(conn.ID+"\x00"+conn.Name+"\x00"+conn.Description), query) {
			continue
		}
		cats := conn.Categories
		if cats == nil {
			cats = []string{}
		}
		all = append(all, connectorSummaryOut{ID: conn.ID, Name: conn.Name, Description: conn.Description, Categories: cats,
			Type: connectorType(conn), Source: sourceOf(conn), AuthenticationTypes: conn.AuthTypes(), ActionCount: conn.ActionCount()})
	}
	page := []connectorSummaryOut{}
	if offset < len(all) {
		page = all[offset:min(len(all), offset+limit)]
	}
	return c.json(http.StatusOK, map[string]any{"connectors": page, "count": len(all), "limit": limit, "offset": offset,
		"hasMore": offset+len(page) < len(all)})
}

func hasCategory(conn *patchbay.Connector, cat string) bool {
	for _, c := range conn.Categories {
		if strings.ToLower(c) == cat {
			return true
		}
	}
	return false
}

// connectorJSON renders a definition plus source and timestamps (§11.4).
// Static headers of mcp connectors show only that they are set.
func connectorJSON(conn *patchbay.Connector, warnings []string) (json.RawMessage, error) {
	def, err := json.Marshal(conn)
	if err != nil {
		return nil, err
	}
	extra := map[string]any{"type": connectorType(conn), "source": sourceOf(conn)}
	if conn.Source == patchbay.SourceCustom {
		extra["createdAt"], extra["updatedAt"] = timestamp(conn.CreatedAt), timestamp(conn.UpdatedAt)
	} else {
		extra["createdAt"], extra["updatedAt"] = nil, nil
	}
	if len(conn.Headers) > 0 {
		shown := map[string]string{}
		for k := range conn.Headers {
			shown[k] = "[set]"
		}
		extra["headers"] = shown
	}
	if warnings != nil {
		extra["warnings"] = warnings
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(def, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	return json.Marshal(m)
}

func (h *Handler) getConnector(c *call) error {
	conn, err := h.catalog.Registry.Connector(c.r.Context(), c.p.AccountID, c.r.PathValue("connectorId"))
	if err != nil {
		return err
	}
	if conn.Source == patchbay.SourceCustom && conn.IsMCP() {
		// Neither the registry's copy nor the stored definition carries the
		// static headers: they are sealed apart. Open them for the names
		// behind the "[set]" marker (§11.6); the values are dropped here.
		full, sealed, err := h.store.FindConnector(c.r.Context(), c.p.AccountID, conn.ID)
		if err != nil {
			return err
		}
		if full.Headers, err = h.openHeaders(c.r.Context(), c.p.AccountID, conn.ID, sealed); err != nil {
			return err
		}
		conn = full
	}
	out, err := connectorJSON(conn, nil)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, out)
}

// readConnectorBody accepts JSON or YAML and returns JSON.
func (c *call) readConnectorBody() ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	body := c.body
	if mt == "application/yaml" || mt == "application/x-yaml" {
		j, err := yamlToJSON(body)
		if err != nil {
			return nil, patchbay.Errorf(patchbay.EInvalid, "body is not valid YAML").Wrap(err)
		}
		body = j
	}
	if err := sj.Check(body, sj.Options{MaxArray: 1000, Unbounded: []string{"openapi"}}); err != nil {
		var se *sj.Error
		if errors.As(err, &se) {
			return nil, se.Invalid()
		}
		return nil, err
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, patchbay.Errorf(patchbay.EInvalid, "body must be a JSON object")
	}
	return body, nil
}

type importBody struct {
	OpenAPI    json.RawMessage `json:"openapi"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	BaseURL    string          `json:"baseUrl"`
	Categories []string        `json:"categories"`
}

type mcpBody struct {
	Type        string                `json:"type"`
	ID          string                `json:"id"`
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Categories  []string              `json:"categories"`
	URL         string                `json:"url"`
	Auth        []patchbay.AuthScheme `json:"auth"`
	Headers     map[string]string     `json:"headers"`
	Tools       []json.RawMessage     `json:"tools"`
}

// buildConnector turns a POST/PUT body into a validated definition.
func (h *Handler) buildConnector(c *call) (*patchbay.Connector, []string, error) {
	body, err := c.readConnectorBody()
	if err != nil {
		return nil, nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, nil, patchbay.Errorf(patchbay.EInvalid, "body must be a JSON object")
	}
	vopts := &connector.ValidateOptions{AllowHTTP: h.catalog.AllowHTTP}
	var conn *patchbay.Connector
	var warnings []string
	switch {
	case probe["openapi"] != nil:
		var ib importBody
		if err := sj.Decode(body, &ib, sj.Options{Unbounded: []string{"openapi"}}); err != nil {
			return nil, nil, err
		}
		doc := []byte(ib.OpenAPI)
		var s string
		if json.Unmarshal(ib.OpenAPI, &s) == nil {
			doc = []byte(s) // the document as a string (JSON or YAML)
		}
		res, err := openapi.Import(doc, &openapi.Options{ID: ib.ID, Name: ib.Name, BaseURL: ib.BaseURL, Categories: ib.Categories})
		if err != nil {
			return nil, nil, err
		}
		conn, warnings = res.Connector, res.Warnings
		if problems := connector.Validate(conn, vopts); len(problems) > 0 {
			return nil, nil, connector.ProblemsError(problems)
		}
		conn.Origin = "openapi"
	case string(probe["type"]) == `"mcp"`:
		var mb mcpBody
		if err := sj.Decode(body, &mb, sj.Options{MaxArray: 1000}); err != nil {
			return nil, nil, err
		}
		conn, warnings, err = h.mcpConnector(c.r.Context(), &mb)
		if err != nil {
			return nil, nil, err
		}
		conn.Origin = "mcp"
	default:
		conn, err = connector.Parse(body, vopts)
		if err != nil {
			return nil, nil, err
		}
		conn.Origin = "definition"
	}
	if err := h.checkDestinations(conn); err != nil {
		return nil, nil, err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return conn, warnings, nil
}

func (h *Handler) mcpConnector(ctx context.Context, mb *mcpBody) (*patchbay.Connector, []string, error) {
	if !patchbay.ValidConnectorID(mb.ID) {
		return nil, nil, patchbay.Errorf(patchbay.EInvalid, "id must match ^[a-z0-9][a-z0-9-]{0,47}$").Field("id")
	}
	if mb.Name == "" || len([]rune(mb.Name)) > 100 {
		return nil, nil, patchbay.Errorf(patchbay.EInvalid, "name must be 1 to 100 characters").Field("name")
	}
	u, err := url.Parse(mb.URL)
	if err != nil || !u.IsAbs() {
		return nil, nil, patchbay.Errorf(patchbay.EInvalid, "url must be an absolute https URL").Field("url")
	}
	if err := h.catalog.CheckURL(u); err != nil {
		return nil, nil, patchbay.Errorf(patchbay.EInvalid, "url is not an allowed destination").Field("url").Reason("destination_not_allowed")
	}
	headers := map[string]patchbay.Secret{}
	for k, v := range mb.Headers {
		headers[k] = patchbay.NewSecret(v)
	}
	var tools []*mcp.Tool
	if mb.Tools != nil {
		for i, raw := range mb.Tools {
			var t mcp.Tool
			if err := json.Unmarshal(raw, &t); err != nil {
				return nil, nil, patchbay.Errorf(patchbay.EInvalid, "tools[%d] is not an MCP tool", i).Field(fmt.Sprintf("tools[%d]", i))
			}
			if m, ok := rawMember(raw, "inputSchema"); ok {
				t.InputSchema = m
			}
			tools = append(tools, &t)
		}
	} else {
		if tools, err = h.catalog.ListTools(ctx, mb.URL, headers); err != nil {
			return nil, nil, err
		}
	}
	conn, warnings, err := upstream.ToConnector(upstream.MCPDefinition{ID: mb.ID, Name: mb.Name, Description: mb.Description,
		Categories: mb.Categories, URL: mb.URL, Auth: mb.Auth, Headers: headers}, tools)
	if err != nil {
		return nil, nil, err
	}
	conn.Headers = headers
	if problems := connector.Validate(conn, &connector.ValidateOptions{AllowHTTP: h.catalog.AllowHTTP}); len(problems) > 0 {
		return nil, nil, connector.ProblemsError(problems)
	}
	return conn, warnings, nil
}

func rawMember(raw json.RawMessage, name string) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	v, ok := m[name]
	return v, ok
}

// checkDestinations applies the save-time SSRF check (§11.4, §15) to the
// base URL (placeholders filled with a harmless label) and OAuth URLs.
func (h *Handler) checkDestinations(conn *patchbay.Connector) error {
	check := func(field, raw string) error {
		if raw == "" {
			return nil
		}
		filled := placeholderRE(raw)
		u, err := url.Parse(filled)
		if err != nil {
			return nil // the definition validator reports malformed URLs
		}
		if err := h.catalog.CheckURL(u); err != nil {
			return patchbay.Errorf(patchbay.EInvalid, "%s is not an allowed destination", field).Field(field).Reason("destination_not_allowed")
		}
		return nil
	}
	if err := check("baseUrl", conn.BaseURL); err != nil {
		return err
	}
	if err := check("url", conn.URL); err != nil {
		return err
	}
	for i, s := range conn.Auth {
		for _, f := range []struct{ name, v string }{{"authorizationUrl", s.AuthorizationURL}, {"tokenUrl", s.TokenURL}, {"revocationUrl", s.RevocationURL}} {
			if err := check(fmt.Sprintf("auth[%d].%s", i, f.name), f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// placeholderRE replaces {field} placeholders with a neutral label.
func placeholderRE(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("x")
		s = s[i+j+1:]
	}
}

func (h *Handler) sealHeaders(ctx context.Context, accountID string, conn *patchbay.Connector) ([]byte, error) {
	if len(conn.Headers) == 0 {
		return nil, nil
	}
	plain := map[string]string{}
	for k, v := range conn.Headers {
		plain[k] = v.Reveal()
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return nil, err
	}
	return h.vault.Seal(ctx, accountID, "connector:"+conn.ID, b)
}

func (h *Handler) createConnector(c *call) error {
	conn, warnings, err := h.buildConnector(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if h.catalog.Registry.Builtin(conn.ID) != nil {
		return patchbay.Errorf(patchbay.EConflict, "%q is a built-in connector", conn.ID).Field("id")
	}
	now := h.now()
	conn.Source, conn.AccountID, conn.CreatedAt, conn.UpdatedAt = patchbay.SourceCustom, c.p.AccountID, now, now
	sealed, err := h.sealHeaders(ctx, c.p.AccountID, conn)
	if err != nil {
		return err
	}
	if err := h.store.CreateConnector(ctx, conn, sealed); err != nil {
		return err
	}
	h.catalog.Changed(ctx, c.p.AccountID)
	h.audit(c, "connector.created", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = conn.ID
		e.Details = map[string]any{"source": conn.Origin}
	})
	out, err := connectorJSON(conn, warnings)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/api/connectors/"+conn.ID)
	return c.json(http.StatusCreated, out)
}

func (h *Handler) builtinForbidden(id string) error {
	if h.catalog.Registry.Builtin(id) != nil {
		return patchbay.Errorf(patchbay.EForbidden, "built-in connectors are read-only").Reason("builtin_connector")
	}
	return nil
}

func (h *Handler) updateConnector(c *call) error {
	id := c.r.PathValue("connectorId")
	if err := h.builtinForbidden(id); err != nil {
		return err
	}
	ctx := c.r.Context()
	old, _, err := h.store.FindConnector(ctx, c.p.AccountID, id)
	if err != nil {
		return err
	}
	conn, warnings, err := h.buildConnector(c)
	if err != nil {
		return err
	}
	if conn.ID != id {
		return patchbay.Errorf(patchbay.EInvalid, "id in the body differs from the path").Field("id")
	}
	conn.Source, conn.AccountID, conn.CreatedAt = patchbay.SourceCustom, c.p.AccountID, old.CreatedAt
	sealed, err := h.sealHeaders(ctx, c.p.AccountID, conn)
	if err != nil {
		return err
	}
	if err := h.store.UpdateConnector(ctx, conn, sealed); err != nil {
		return err
	}
	h.catalog.Changed(ctx, c.p.AccountID)
	h.catalog.Purge(ctx, c.p.AccountID, id)
	h.audit(c, "connector.updated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = id
		e.Details = map[string]any{"source": conn.Origin}
	})
	out, err := connectorJSON(conn, warnings)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, out)
}

func (h *Handler) deleteConnector(c *call) error {
	id := c.r.PathValue("connectorId")
	if err := h.builtinForbidden(id); err != nil {
		return err
	}
	force := false
	if q := c.r.URL.Query(); q.Has("force") {
		switch q.Get("force") {
		case "true":
			force = true
		case "false":
		default:
			return patchbay.Errorf(patchbay.EInvalid, "force must be true or false").Field("force")
		}
	}
	ctx := c.r.Context()
	old, _, err := h.store.FindConnector(ctx, c.p.AccountID, id)
	if err != nil {
		return err
	}
	deleted, err := h.store.DeleteConnector(ctx, c.p.AccountID, id, force)
	if err != nil {
		return err
	}
	h.catalog.Changed(ctx, c.p.AccountID)
	h.catalog.Purge(ctx, c.p.AccountID, id)
	h.creds.AppChanged(ctx, c.p.AccountID, id)
	h.credentialEvents(c, "credential.deleted", deleted, "")
	h.audit(c, "connector.deleted", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = id
		e.Details = map[string]any{"source": old.Origin, "deletedCredentials": len(deleted)}
	})
	return c.json(http.StatusOK, map[string]any{"message": "Connector deleted", "connectorId": id})
}

// openHeaders opens the sealed static headers of an mcp connector.
func (h *Handler) openHeaders(ctx context.Context, accountID, id string, sealed []byte) (map[string]patchbay.Secret, error) {
	headers := map[string]patchbay.Secret{}
	if len(sealed) == 0 {
		return headers, nil
	}
	plain, err := h.vault.Open(ctx, accountID, "connector:"+id, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		headers[k] = patchbay.NewSecret(v)
	}
	return headers, nil
}

// refreshConnector re-reads the tool list of an mcp connector.
func (h *Handler) refreshConnector(c *call) error {
	id := c.r.PathValue("connectorId")
	if err := h.builtinForbidden(id); err != nil {
		return err
	}
	ctx := c.r.Context()
	old, sealed, err := h.store.FindConnector(ctx, c.p.AccountID, id)
	if err != nil {
		return err
	}
	if !old.IsMCP() {
		return patchbay.Errorf(patchbay.EInvalid, "only mcp connectors can be refreshed").Reason("not_mcp")
	}
	headers, err := h.openHeaders(ctx, c.p.AccountID, id, sealed)
	if err != nil {
		return err
	}
	tools, err := h.catalog.ListTools(ctx, old.URL, headers)
	if err != nil {
		return err
	}
	conn, warnings, err := upstream.ToConnector(upstream.MCPDefinition{ID: old.ID, Name: old.Name, Description: old.Description,
		Categories: old.Categories, URL: old.URL, Auth: old.Auth, Headers: headers}, tools)
	if err != nil {
		return err
	}
	conn.Source, conn.AccountID, conn.Origin, conn.CreatedAt, conn.Headers = patchbay.SourceCustom, c.p.AccountID, old.Origin, old.CreatedAt, headers
	if err := h.store.UpdateConnector(ctx, conn, sealed); err != nil {
		return err
	}
	h.catalog.Changed(ctx, c.p.AccountID)
	h.catalog.Purge(ctx, c.p.AccountID, id)
	h.audit(c, "connector.updated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.ConnectorID = id
		e.Details = map[string]any{"source": "mcp", "refreshed": true}
	})
	out, err := connectorJSON(conn, warnings)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, out)
}
