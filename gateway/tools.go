package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/registry"
)

// toolDef is a meta tool: its listing and its handler.
type toolDef struct {
	name        string
	description string
	schema      string // the inputSchema of §7, member order as in the contract
	readOnly    bool
	destructive bool
	idempotent  bool
	args        []arg
	run         func(h *Handler, c *call, a map[string]json.RawMessage) *mcp.CallToolResult
}

func (t *toolDef) tool() *mcp.Tool {
	return &mcp.Tool{Name: t.name, Description: t.description, InputSchema: json.RawMessage(t.schema),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: t.readOnly, DestructiveHint: patchbay.Bool(t.destructive),
			IdempotentHint: t.idempotent, OpenWorldHint: patchbay.Bool(true)}}
}

var metaTools = []*toolDef{
	{
		name:        "list_connectors_alloy",
		description: "Lists all available platform connectors. Optional filters: category, query.",
		schema:      `{"type":"object","properties":{"category":{"type":"string","minLength":1,"maxLength":64,"description":"Filter by category, e.g. crm, communication, productivity"},"query":{"type":"string","minLength":1,"maxLength":200,"description":"Case-insensitive text search in connector id, name and description"}},"additionalProperties":false}`,
		readOnly:    true, idempotent: true,
		args: []arg{{name: "category", kind: kString, min: 1, max: 64}, {name: "query", kind: kString, min: 1, max: 200}},
		run:  (*Handler).listConnectors,
	},
	{
		name:        "get_connector_resources_alloy",
		description: "Gets available resources and actions for a connector.",
		schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48,"description":"Connector ID from list_connectors_alloy"}},"required":["connectorId"],"additionalProperties":false}`,
		readOnly:    true, idempotent: true,
		args: []arg{argConnectorID},
		run:  (*Handler).connectorResources,
	},
	{
		name:        "get_action_details_alloy",
		description: "Gets detailed parameter information for an action.",
		schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48},"actionId":{"type":"string","minLength":1,"maxLength":64,"description":"Case-sensitive action ID"}},"required":["connectorId","actionId"],"additionalProperties":false}`,
		readOnly:    true, idempotent: true,
		args: []arg{argConnectorID, argActionID},
		run:  (*Handler).actionDetails,
	},
	{
		name:        "execute_action_alloy",
		description: "Executes an action on a platform using the user's stored credential.",
		schema:      `{"type":"object","properties":{"connectorId":{"type":"string","minLength":1,"maxLength":48},"actionId":{"type":"string","minLength":1,"maxLength":64,"description":"Case-sensitive action ID"},"parameters":{"type":"object","description":"Action parameters as described by get_action_details_alloy"},"credentialId":{"type":"string","pattern":"^cred_[0-9A-Za-z]{20}$","description":"Stored credential to use; defaults to the most recently used one"}},"required":["connectorId","actionId","parameters"],"additionalProperties":false}`,
		destructive: true,
		args: []arg{argConnectorID, argActionID, {name: "parameters", kind: kObject, required: true},
			{name: "credentialId", kind: kString, check: patchbay.ValidCredentialID, what: "cred_ followed by 20 base62 characters"}},
		run: (*Handler).executeTool,
	},
	createCredentialTool,
	getCredentialsTool,
	credentialMetadataTool,
	{
		name:        "discover_action_path_alloy",
		description: "Finds connector actions that match a goal described in plain language.",
		schema:      `{"type":"object","properties":{"goal":{"type":"string","minLength":1,"maxLength":500,"description":"e.g. 'send a message to a Slack channel'"},"limit":{"type":"integer","minimum":1,"maximum":20,"default":5}},"required":["goal"],"additionalProperties":false}`,
		readOnly:    true, idempotent: true,
		args: []arg{{name: "goal", kind: kString, required: true, min: 1, max: 500}, {name: "limit", kind: kInteger, min: 1, max: 20}},
		run:  (*Handler).discover,
	},
}

func (h *Handler) addMetaTools(s *builtServer) {
	for _, t := range metaTools {
		h.addTool(s, t)
	}
}

// addTool registers t with a handler that validates the arguments, runs
// the tool and audits the call.
func (h *Handler) addTool(s *builtServer, t *toolDef) {
	s.add(t.tool(), func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c := callFrom(ctx)
		if c == nil {
			return nil, fmt.Errorf("no request context")
		}
		raw := req.Params.Arguments
		a, err := parseArgs(raw, t.args)
		var res *mcp.CallToolResult
		if err != nil {
			res = c.fail(err)
		} else {
			res = t.run(h, c, a)
		}
		h.toolCalled(c, t.name, "meta", raw, res)
		return res, nil
	})
}

// connectorSummary is the catalog object of §7.
type connectorSummary struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	Description         string   `json:"description"`
	Category            []string `json:"category"`
	Type                string   `json:"type"`
	AuthenticationTypes []string `json:"authenticationTypes"`
}

func summary(conn *patchbay.Connector) connectorSummary {
	cats := conn.Categories
	if cats == nil {
		cats = []string{}
	}
	typ := conn.Type
	if typ == "" {
		typ = patchbay.ConnectorREST
	}
	return connectorSummary{ID: conn.ID, Name: conn.Name, Description: conn.Description, Category: cats, Type: typ,
		AuthenticationTypes: conn.AuthTypes()}
}

func (h *Handler) listConnectors(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	category, query := strings.ToLower(str(a, "category")), strings.ToLower(str(a, "query"))
	out := []connectorSummary{}
	for _, e := range c.view.Entries {
		conn := e.Connector
		if !c.policy().AllowConnector(conn.ID) {
			continue
		}
		if category != "" && !hasCategory(conn, category) {
			continue
		}
		if query != "" && !strings.Contains(strings.ToLower(conn.ID), query) && !strings.Contains(strings.ToLower(conn.Name), query) &&
			!strings.Contains(strings.ToLower(conn.Description), query) {
			continue
		}
		out = append(out, summary(conn))
	}
	return ok(map[string]any{"connectors": out, "count": len(out), "message": fmt.Sprintf("Found %d available connectors", len(out))})
}

func hasCategory(conn *patchbay.Connector, cat string) bool {
	for _, c := range conn.Categories {
		if strings.ToLower(c) == cat {
			return true
		}
	}
	return false
}

// lookupConnector resolves a connector and checks the connector restriction.
func (c *call) lookupConnector(id string) (*registry.Entry, error) {
	e := c.view.Lookup(id)
	if e == nil {
		return nil, patchbay.Errorf(patchbay.EConnectorNotFound, "Connector not found")
	}
	if !c.policy().AllowConnector(id) {
		return nil, patchbay.Errorf(patchbay.EForbidden, "Connector not allowed").Reason("connector_not_allowed")
	}
	return e, nil
}

type actionSummary struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Method      string `json:"method"`
	ReadOnly    bool   `json:"readOnly"`
	Destructive bool   `json:"destructive"`
}

func (h *Handler) connectorResources(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	id := str(a, "connectorId")
	e, err := c.lookupConnector(id)
	if err != nil {
		h.deniedIf(c, err, id, "")
		return c.fail(err, "connectorId", id)
	}
	type resourceOut struct {
		ID          string          `json:"id"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Actions     []actionSummary `json:"actions"`
	}
	resources := []resourceOut{}
	count := 0
	for _, r := range e.Connector.Resources {
		var acts []actionSummary
		for i := range r.Actions {
			act := &r.Actions[i]
			if !c.policy().AllowAction(id, act.ID) {
				continue
			}
			acts = append(acts, actionSummary{ID: act.ID, Name: act.Name, Description: act.Description, Method: methodOf(e.Connector, act),
				ReadOnly: act.IsReadOnly(), Destructive: destructiveOf(e.Connector, act)})
		}
		if len(acts) == 0 {
			continue
		}
		count += len(acts)
		resources = append(resources, resourceOut{ID: r.ID, Name: r.Name, Description: r.Description, Actions: acts})
	}
	return ok(map[string]any{"connectorId": id, "name": e.Connector.Name, "resources": resources, "actionCount": count,
		"message": fmt.Sprintf("Found %d actions in %d resources for %s", count, len(resources), id)})
}

func methodOf(conn *patchbay.Connector, a *patchbay.Action) string {
	if conn.IsMCP() {
		return "MCP"
	}
	return a.Method
}

func destructiveOf(_ *patchbay.Connector, a *patchbay.Action) bool { return a.IsDestructive() }

// resolveAction applies the §7.3/§7.4 order: connector, connector
// restriction, action, action restriction.
func (c *call) resolveAction(connectorID, actionID string) (*registry.Entry, *patchbay.Resource, *patchbay.Action, error) {
	e, err := c.lookupConnector(connectorID)
	if err != nil {
		return nil, nil, nil, err
	}
	res, act := e.Connector.FindAction(actionID)
	if act == nil {
		return nil, nil, nil, patchbay.Errorf(patchbay.EActionNotFound, "Action not found")
	}
	if !c.policy().AllowAction(connectorID, actionID) {
		return nil, nil, nil, patchbay.Errorf(patchbay.EForbidden, "Action not allowed").Reason("action_not_allowed")
	}
	return e, res, act, nil
}

func (h *Handler) actionDetails(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	cid, aid := str(a, "connectorId"), str(a, "actionId")
	e, _, act, err := c.resolveAction(cid, aid)
	if err != nil {
		h.deniedIf(c, err, cid, aid)
		return c.fail(err, "connectorId", cid, "actionId", aid)
	}
	d, err := describeAction(e.Connector, act)
	if err != nil {
		return c.fail(err, "connectorId", cid, "actionId", aid)
	}
	path := act.Path
	if e.Connector.IsMCP() {
		path = act.Tool
	}
	out := orderedObject{
		{"connectorId", cid}, {"actionId", aid}, {"name", act.Name}, {"description", act.Description},
		{"method", methodOf(e.Connector, act)}, {"path", path}, {"readOnly", act.IsReadOnly()}, {"destructive", act.IsDestructive()},
		{"idempotent", act.IsIdempotent()}, {"requiresCredential", len(e.Connector.Auth) > 0},
		{"authenticationTypes", e.Connector.AuthTypes()}, {"parameters", d.params}, {"inputSchema", d.schema},
		{"sampleInput", d.sample},
		{"message", fmt.Sprintf("Action %s takes %d required and %d optional parameters", aid, d.required, len(d.params)-d.required)},
	}
	return ok(out)
}

func (h *Handler) discover(c *call, a map[string]json.RawMessage) *mcp.CallToolResult {
	goal := str(a, "goal")
	limit := 5
	if v, ok := a["limit"]; ok {
		_ = json.Unmarshal(v, &limit)
	}
	matches := c.view.Index.Search(goal, limit, func(conn *patchbay.Connector, act *patchbay.Action) bool {
		return c.policy().AllowConnector(conn.ID) && c.policy().AllowAction(conn.ID, act.ID)
	})
	type matchOut struct {
		ConnectorID         string  `json:"connectorId"`
		ActionID            string  `json:"actionId"`
		Name                string  `json:"name"`
		Description         string  `json:"description"`
		ResourceID          string  `json:"resourceId"`
		Score               float64 `json:"score"`
		ReadOnly            bool    `json:"readOnly"`
		RequiresCredential  bool    `json:"requiresCredential"`
		HasActiveCredential bool    `json:"hasActiveCredential"`
	}
	out := []matchOut{}
	active := map[string]bool{}
	for _, m := range matches {
		needs := len(m.Connector.Auth) > 0
		has, seen := active[m.ConnectorID]
		if needs && !seen {
			has = h.hasActiveCredential(c, m.Connector)
			active[m.ConnectorID] = has
		}
		out = append(out, matchOut{ConnectorID: m.ConnectorID, ActionID: m.ActionID, Name: m.Name, Description: m.Description,
			ResourceID: m.ResourceID, Score: m.Score, ReadOnly: m.Action.IsReadOnly(), RequiresCredential: needs, HasActiveCredential: needs && has})
	}
	return ok(orderedObject{{"goal", goal}, {"matches", out}, {"count", len(out)},
		{"message", fmt.Sprintf("Found %d matching actions. Call get_action_details_alloy before execute_action_alloy.", len(out))}})
}

// orderedObject marshals as a JSON object with members in slice order.
type orderedObject []struct {
	k string
	v any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.k)
		b.Write(k)
		b.WriteByte(':')
		b.Write(marshal(kv.v))
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
