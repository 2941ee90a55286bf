package connector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchbay-mcp/patchbay"
)

// Problem is one fault of a connector definition. Path locates it in the
// document (dot path with indexes, e.g. resources[1].actions[0].path).
type Problem struct {
	Path    string
	Message string
}

// FieldError is one entry of details.errors of an invalid definition.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// maxReportedProblems is how many problems details.errors carries (§11.4).
const maxReportedProblems = 50

// ProblemsError turns problems into the contract's INVALID_REQUEST error:
// the message names the first problem, details.field is its path and
// details.errors lists up to 50 of them. It returns nil for no problems.
func ProblemsError(problems []Problem) *patchbay.Error {
	if len(problems) == 0 {
		return nil
	}
	first := problems[0]
	msg := "Invalid connector definition: " + first.Message
	if first.Path != "" {
		msg = "Invalid connector definition: " + first.Path + ": " + first.Message
	}
	n := min(len(problems), maxReportedProblems)
	errs := make([]FieldError, n)
	for i := range n {
		errs[i] = FieldError{Field: problems[i].Path, Message: problems[i].Message}
	}
	return patchbay.Errorf(patchbay.EInvalid, "%s", msg).Field(first.Path).With("errors", errs)
}

// Parse reads a connector definition in YAML or JSON (§11.1), decodes it
// strictly and validates it with opts (nil: https only). Member order of the
// parameter schemas is kept. An invalid document gives the error of
// ProblemsError listing every problem found.
//
// For type mcp, an absent action method is filled in as "MCP", and the
// optional headers member becomes Connector.Headers.
func Parse(data []byte, opts *ValidateOptions) (*patchbay.Connector, error) {
	var b treeBuilder
	var root *tree
	var err error
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	if looksLikeJSON(data) {
		root, err = b.jsonTree(data, "")
	} else {
		root, err = b.yamlTree(data)
	}
	if err != nil {
		return nil, ProblemsError([]Problem{{Message: "not a valid YAML or JSON document: " + err.Error()}})
	}
	problems := b.problems
	if root.kind != tObject {
		problems = append(problems, Problem{Message: "the definition must be an object"})
		return nil, ProblemsError(problems)
	}
	problems = checkShape(root, definitionShape(), "", problems)
	structural := len(problems)

	var c patchbay.Connector
	if err := json.Unmarshal(root.appendJSON(nil), &c); err != nil {
		// checkShape removed every member of the wrong type, so this
		// only fails on numbers out of range and the like.
		problems = append(problems, Problem{Message: "cannot decode definition: " + err.Error()})
		return nil, ProblemsError(problems)
	}
	if h := root.get("headers"); h != nil && h.kind == tObject {
		c.Headers = make(map[string]patchbay.Secret, len(h.keys))
		for i, k := range h.keys {
			c.Headers[k] = patchbay.NewSecret(h.vals[i].str)
		}
	}
	if c.Type == patchbay.ConnectorMCP {
		for i := range c.Resources {
			for j := range c.Resources[i].Actions {
				if a := &c.Resources[i].Actions[j]; a.Method == "" {
					a.Method = methodMCP
				}
			}
		}
	}
	for _, p := range Validate(&c, opts) {
		if !coveredBy(p.Path, problems[:structural]) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, ProblemsError(problems)
	}
	return &c, nil
}

// coveredBy reports whether a semantic problem at path repeats a structural
// one (a member dropped for its type is then also "missing").
func coveredBy(path string, structural []Problem) bool {
	for _, s := range structural {
		if s.Path == "" {
			continue
		}
		if path == s.Path || strings.HasPrefix(path, s.Path+".") || strings.HasPrefix(path, s.Path+"[") {
			return true
		}
	}
	return false
}

// shape describes the expected JSON structure of a definition.
type shape struct {
	kind    tkind
	members []member // fixed members of an object
	elem    *shape   // array items, or values of a map-like object
	anyJSON bool     // any value (parameter schemas)
	mapLike bool     // object with free member names whose values are elem
}

type member struct {
	name  string
	shape *shape
}

func definitionShape() *shape {
	str := &shape{kind: tString}
	boolean := &shape{kind: tBool}
	strs := &shape{kind: tArray, elem: str}
	strMap := &shape{kind: tObject, mapLike: true, elem: str}
	field := &shape{kind: tObject, members: []member{
		{"name", str}, {"label", str}, {"secret", boolean}, {"pattern", str}, {"enum", strs}, {"required", boolean},
	}}
	scheme := &shape{kind: tObject, members: []member{
		{"type", str},
		{"authorizationUrl", str}, {"tokenUrl", str}, {"revocationUrl", str}, {"scopes", strs},
		{"scopeSeparator", str}, {"pkce", boolean}, {"tokenAuthMethod", str}, {"authorizeParams", strMap},
		{"in", str}, {"name", str}, {"prefix", str},
		{"fields", &shape{kind: tArray, elem: field}},
	}}
	action := &shape{kind: tObject, members: []member{
		{"id", str}, {"name", str}, {"description", str}, {"method", str}, {"path", str},
		{"parameters", &shape{kind: tObject, anyJSON: true}},
		{"readOnly", boolean}, {"destructive", boolean}, {"idempotent", boolean},
		{"bodyEncoding", str},
		{"response", &shape{kind: tObject, members: []member{{"itemsPath", str}}}},
		{"tool", str},
	}}
	resource := &shape{kind: tObject, members: []member{
		{"id", str}, {"name", str}, {"description", str},
		{"actions", &shape{kind: tArray, elem: action}},
	}}
	return &shape{kind: tObject, members: []member{
		{"id", str}, {"name", str}, {"description", str}, {"categories", strs},
		{"type", str}, {"baseUrl", str}, {"url", str},
		{"auth", &shape{kind: tArray, elem: scheme}},
		{"resources", &shape{kind: tArray, elem: resource}},
		{"headers", strMap},
	}}
}

// checkShape reports unknown members (including case variants) and members
// of the wrong type, and removes them from t so that decoding cannot fail or
// pick them up. A null member counts as absent.
func checkShape(t *tree, s *shape, path string, problems []Problem) []Problem {
	if s.anyJSON {
		return problems
	}
	switch s.kind {
	case tArray:
		for i, e := range t.elem {
			p := indexPath(path, i)
			if e.kind != s.elem.kind {
				problems = append(problems, Problem{p, "must be " + s.elem.kind.String()})
				continue
			}
			problems = checkShape(e, s.elem, p, problems)
		}
		// Drop items of the wrong type so that decoding succeeds.
		kept := t.elem[:0]
		for _, e := range t.elem {
			if e.kind == s.elem.kind {
				kept = append(kept, e)
			}
		}
		t.elem = kept
	case tObject:
		// Members that fail are dropped (kept in place otherwise).
		keys, vals := t.keys[:0], t.vals[:0]
		for i, key := range t.keys {
			val := t.vals[i]
			p := joinPath(path, key)
			var ms *shape
			if s.mapLike {
				ms = s.elem
			} else {
				ms = findMember(s, key)
				if ms == nil {
					msg := fmt.Sprintf("unknown member %q", key)
					if alt := caseVariant(s, key); alt != "" {
						msg = fmt.Sprintf("unknown member %q (member names are case-sensitive; did you mean %q?)", key, alt)
					}
					problems = append(problems, Problem{p, msg})
					continue
				}
			}
			if val.kind == tNull {
				continue
			}
			if val.kind != ms.kind {
				problems = append(problems, Problem{p, "must be " + ms.kind.String()})
				continue
			}
			problems = checkShape(val, ms, p, problems)
			keys, vals = append(keys, key), append(vals, val)
		}
		t.keys, t.vals = keys, vals
	}
	return problems
}

func findMember(s *shape, key string) *shape {
	for _, m := range s.members {
		if m.name == key {
			return m.shape
		}
	}
	return nil
}

func caseVariant(s *shape, key string) string {
	for _, m := range s.members {
		if strings.EqualFold(m.name, key) {
			return m.name
		}
	}
	return ""
}
