package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/patchbay-mcp/patchbay"
)

// Limits of the definition format (§11.1).
const (
	maxActions     = 500 // per resource; all tools share the one resource
	maxIDLen       = 64
	maxNameLen     = 100
	maxDescription = 4000
)

// MCPDefinition is the part of an mcp connector definition (§11.6) that is
// not derived from the tool list.
type MCPDefinition struct {
	ID          string
	Name        string
	Description string
	Categories  []string
	URL         string
	Auth        []patchbay.AuthScheme
	Headers     map[string]patchbay.Secret
}

// ToConnector maps an upstream tool list to a connector of type mcp: one
// resource "tools", one action per tool (§11.6). Tools without a name are
// skipped; the warnings say what was skipped or changed. More than 500 tools
// is EInvalid (field "tools", reason "too_many_tools"). Source, AccountID and
// Origin are left to the caller.
func ToConnector(def MCPDefinition, tools []*mcp.Tool) (*patchbay.Connector, []string, error) {
	var warnings []string
	actions := make([]patchbay.Action, 0, len(tools))
	taken := make(map[string]bool, len(tools))
	for i, t := range tools {
		if t == nil || t.Name == "" {
			warnings = append(warnings, fmt.Sprintf("tool %d skipped: no name", i))
			continue
		}
		a, w := toAction(t)
		warnings = append(warnings, w...)
		a.ID = dedupe(a.ID, taken)
		if a.ID != normalizeID(t.Name) {
			warnings = append(warnings, fmt.Sprintf("tool %q: id %q (duplicate of an earlier tool's id)", t.Name, a.ID))
		}
		actions = append(actions, a)
	}
	if len(actions) > maxActions {
		return nil, warnings, patchbay.Errorf(patchbay.EInvalid, "The upstream server has %d tools; at most %d are supported", len(actions), maxActions).
			Field("tools").Reason("too_many_tools")
	}
	c := &patchbay.Connector{
		ID:          def.ID,
		Name:        def.Name,
		Description: def.Description,
		Categories:  def.Categories,
		Type:        patchbay.ConnectorMCP,
		URL:         def.URL,
		Auth:        def.Auth,
		Headers:     def.Headers,
		Resources:   []patchbay.Resource{{ID: "tools", Name: "Tools", Actions: actions}},
	}
	return c, warnings, nil
}

func toAction(t *mcp.Tool) (patchbay.Action, []string) {
	var warnings []string
	name := t.Title
	if name == "" && t.Annotations != nil {
		name = t.Annotations.Title
	}
	if name == "" {
		name = t.Name
	}
	if cut, ok := truncate(name, maxNameLen); ok {
		warnings = append(warnings, fmt.Sprintf("tool %q: name cut to %d characters", t.Name, maxNameLen))
		name = cut
	}
	desc := t.Description
	if cut, ok := truncate(desc, maxDescription); ok {
		warnings = append(warnings, fmt.Sprintf("tool %q: description cut to %d characters", t.Name, maxDescription))
		desc = cut
	}
	params, ok := schemaJSON(t.InputSchema)
	if !ok {
		warnings = append(warnings, fmt.Sprintf("tool %q: inputSchema is not a JSON object; using {\"type\":\"object\"}", t.Name))
	}
	// MCP hint defaults: not read-only, destructive unless read-only, not
	// idempotent. destructiveHint only means something for a tool that
	// writes, so a read-only tool is never destructive.
	readOnly, destructive, idempotent := false, true, false
	if an := t.Annotations; an != nil {
		readOnly, idempotent = an.ReadOnlyHint, an.IdempotentHint
		if an.DestructiveHint != nil {
			destructive = *an.DestructiveHint
		}
	}
	if readOnly {
		destructive = false
	}
	return patchbay.Action{
		ID:          normalizeID(t.Name),
		Name:        name,
		Description: desc,
		Method:      "MCP",
		Parameters:  params,
		ReadOnly:    patchbay.Bool(readOnly),
		Destructive: patchbay.Bool(destructive),
		Idempotent:  patchbay.Bool(idempotent),
		Tool:        t.Name,
	}, warnings
}

// schemaJSON returns the input schema as JSON: verbatim when it is raw JSON
// (as ListTools returns it), else marshalled. Anything but an object gives
// {"type":"object"} and false.
func schemaJSON(s any) (json.RawMessage, bool) {
	var b []byte
	switch v := s.(type) {
	case nil:
		return json.RawMessage(`{"type":"object"}`), false
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = marshal(v); err != nil {
			return json.RawMessage(`{"type":"object"}`), false
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return json.RawMessage(`{"type":"object"}`), false
	}
	return json.RawMessage(bytes.Clone(b)), true
}

// normalizeID applies the operationId rule of §11.5: every character
// outside [A-Za-z0-9_] becomes "_", runs of "_" collapse, leading and
// trailing "_" are trimmed, "op_" is prefixed unless the result starts with
// a letter, and the result is cut to 64 characters.
func normalizeID(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 3)
	under := false
	for _, r := range name {
		ok := r < utf8.RuneSelf && (r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		if !ok || r == '_' {
			if !under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = true
			continue
		}
		under = false
		b.WriteRune(r)
	}
	id := strings.TrimRight(b.String(), "_")
	if id == "" || !isLetter(id[0]) {
		id = "op_" + id
	}
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	return id
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// dedupe returns id, or id with the first free suffix _2, _3, ... when it is
// taken case-insensitively, cutting id so that the result stays within 64
// characters. It records the result as taken.
func dedupe(id string, taken map[string]bool) string {
	out := id
	for n := 2; taken[strings.ToLower(out)]; n++ {
		suffix := "_" + strconv.Itoa(n)
		base := id
		if len(base)+len(suffix) > maxIDLen {
			base = base[:maxIDLen-len(suffix)]
		}
		out = base + suffix
	}
	taken[strings.ToLower(out)] = true
	return out
}

// truncate cuts s to at most n characters (runes), reporting whether it did.
func truncate(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j], true
		}
		i++
	}
	return s, false
}
