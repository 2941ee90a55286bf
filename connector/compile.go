package connector

import (
	"errors"
	"net/textproto"
	"net/url"
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/patchbay-mcp/patchbay"
)

// Compiled is a connector prepared for execution: parameter schemas
// compiled, binding plans and URL templates parsed, credential field rules
// compiled. Build it once per connector version with Compile; it is
// immutable and safe for concurrent use.
type Compiled struct {
	conn    *patchbay.Connector
	actions map[string]*compiledAction
	base    baseTemplate
	mcpURL  *url.URL
	schemes map[string]*compiledScheme // by auth type
}

// ActionInfo describes one action of a compiled connector.
type ActionInfo struct {
	Resource *patchbay.Resource
	Action   *patchbay.Action
	// The §11.1 flags with their defaults applied.
	ReadOnly, Destructive, Idempotent bool
}

// Connector returns the definition c was compiled from. Callers must not
// modify it.
func (c *Compiled) Connector() *patchbay.Connector { return c.conn }

// Action returns the action with exactly this id (case-sensitive).
func (c *Compiled) Action(id string) (ActionInfo, bool) {
	a := c.actions[id]
	if a == nil {
		return ActionInfo{}, false
	}
	return ActionInfo{Resource: a.resource, Action: a.def, ReadOnly: a.readOnly, Destructive: a.destructive, Idempotent: a.idempotent}, true
}

type compiledAction struct {
	def      *patchbay.Action
	resource *patchbay.Resource
	schema   *jsonschema.Schema
	props    map[string]*binding // by property name
	path     []tmplPart          // param parts refer to props by name
	method   string
	form     bool
	bodyRoot *binding // nil unless a property has x-body-root
	mcp      bool

	readOnly, destructive, idempotent bool
}

// binding is where one top-level parameter goes on the wire.
type binding struct {
	name     string
	in       string // inPath, inQuery, inHeader, inBody, inArguments
	wire     string
	wireKey  string // header: canonical name; query/form: escaped name; body: JSON-encoded name plus ':'
	bodyRoot bool
}

// tmplPart is a literal piece or a {name} placeholder of a URL template.
type tmplPart struct {
	lit   string
	name  string
	param bool
}

type baseTemplate struct {
	scheme string
	host   []tmplPart // literal host[:port] and placeholders
	path   []tmplPart // escaped path without trailing slash
}

// compiledScheme is one auth scheme with what Execute needs precomputed.
type compiledScheme struct {
	scheme *patchbay.AuthScheme
	fields map[string]*fieldRule // every field with a pattern or enum
	header string                // apiKey in header: canonical header name
	query  string                // apiKey in query: escaped parameter name
}

type fieldRule struct {
	pattern *regexp.Regexp
	enum    []string
}

func (f *fieldRule) allows(v string) bool {
	if f == nil {
		return true
	}
	if f.pattern != nil && !f.pattern.MatchString(v) {
		return false
	}
	if len(f.enum) > 0 {
		for _, e := range f.enum {
			if e == v {
				return true
			}
		}
		return false
	}
	return true
}

// Compile validates c (every rule of §11.1 except the http allowlist, which
// Execute checks per call) and precomputes everything Execute needs. An
// invalid definition gives the error of ProblemsError. c must not be
// modified afterwards.
func Compile(c *patchbay.Connector) (*Compiled, error) {
	if c == nil {
		return nil, errors.New("connector: nil connector")
	}
	out := &Compiled{
		conn:    c,
		actions: make(map[string]*compiledAction, c.ActionCount()),
		schemes: make(map[string]*compiledScheme, len(c.Auth)),
	}
	v := checker{opts: &ValidateOptions{AllowHTTP: func(string) bool { return true }}, out: out}
	v.connector(c)
	if len(v.problems) > 0 {
		return nil, ProblemsError(v.problems)
	}
	for i := range c.Auth {
		s := &c.Auth[i]
		cs := &compiledScheme{scheme: s, fields: make(map[string]*fieldRule, len(s.Fields))}
		for j := range s.Fields {
			f := &s.Fields[j]
			rule := &fieldRule{enum: f.Enum}
			if f.Pattern != "" {
				rule.pattern = regexp.MustCompile(f.Pattern) // checked by the validator
			}
			cs.fields[f.Name] = rule
		}
		if s.Type == patchbay.AuthAPIKey {
			if s.In == "header" {
				cs.header = textproto.CanonicalMIMEHeaderKey(s.Name)
			} else {
				cs.query = url.QueryEscape(s.Name)
			}
		}
		out.schemes[s.Type] = cs
	}
	return out, nil
}
