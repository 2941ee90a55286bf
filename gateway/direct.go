package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/registry"
)

// directToolName is <connectorId>__<actionId>, hashed down to 64
// characters when longer (§7.9).
func directToolName(connectorID, actionID string) string {
	name := connectorID + "__" + actionID
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:55] + "_" + hex.EncodeToString(sum[:])[:8]
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// addDirectTools lists every permitted action of every visible connector as
// its own tool (§7.9). Restrictions are checked again on every call.
func (h *Handler) addDirectTools(s *builtServer, e *serverEntry, v *registry.View) {
	for _, ent := range v.Entries {
		conn := ent.Connector
		if !e.policy.AllowConnector(conn.ID) {
			continue
		}
		for _, r := range conn.Resources {
			for i := range r.Actions {
				act := &r.Actions[i]
				if !e.policy.AllowAction(conn.ID, act.ID) {
					continue
				}
				h.addDirectTool(s, conn, act)
			}
		}
	}
}

func (h *Handler) addDirectTool(s *builtServer, conn *patchbay.Connector, act *patchbay.Action) {
	name := directToolName(conn.ID, act.ID)
	root, err := parseNode(schemaOf(act))
	if err != nil {
		return
	}
	schema := root.withoutX()
	schema.set("additionalProperties", scalarNode(false))
	props := schema.get("properties")
	if props == nil {
		props = &node{isObj: true}
		schema.set("properties", props)
	}
	hasCredParam := props.get("credentialId") != nil
	if !hasCredParam {
		props.set("credentialId", &node{isObj: true, obj: []member{{"type", scalarNode("string")},
			{"pattern", scalarNode("^cred_[0-9A-Za-z]{20}$")},
			{"description", scalarNode("Stored credential to use; defaults to the most recently used one")}}})
	}
	tool := &mcp.Tool{Name: name, Title: act.Name,
		Description: truncateRunes(fmt.Sprintf("[%s] %s", conn.Name, act.Description), 1024),
		InputSchema: marshal(schema),
		Annotations: &mcp.ToolAnnotations{Title: act.Name, ReadOnlyHint: act.IsReadOnly(), DestructiveHint: patchbay.Bool(act.IsDestructive()),
			IdempotentHint: act.IsIdempotent(), OpenWorldHint: patchbay.Bool(true)}}
	connectorID, actionID := conn.ID, act.ID
	s.add(tool, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c := callFrom(ctx)
		if c == nil {
			return nil, fmt.Errorf("no request context")
		}
		raw := req.Params.Arguments
		params, credArg, err := splitDirectArgs(raw, hasCredParam)
		var res *mcp.CallToolResult
		if err != nil {
			res = c.fail(err, "connectorId", connectorID, "actionId", actionID)
		} else {
			res = h.execute(c, connectorID, actionID, params, credArg)
		}
		h.toolCalled(c, name, "direct", raw, res)
		return res, nil
	})
}

// splitDirectArgs removes the credentialId argument (unless the action has
// a parameter of that name) and returns the rest as parameters.
func splitDirectArgs(raw json.RawMessage, actionHasCredParam bool) (json.RawMessage, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), "", nil
	}
	if actionHasCredParam {
		return raw, "", nil
	}
	root, err := parseNode(raw)
	if err != nil || !root.isObj {
		return nil, "", invalidArgs(argError{Path: "/", Message: "arguments must be an object"})
	}
	cred := ""
	if v := root.get("credentialId"); v != nil {
		if len(v.scalar) == 0 || v.scalar[0] != '"' || !patchbay.ValidCredentialID(v.str()) {
			return nil, "", invalidArgs(argError{Path: "/credentialId", Message: "must be cred_ followed by 20 base62 characters"})
		}
		cred = v.str()
		kept := root.obj[:0:0]
		for _, m := range root.obj {
			if m.key != "credentialId" {
				kept = append(kept, m)
			}
		}
		root.obj = kept
	}
	return marshal(root), cred, nil
}
