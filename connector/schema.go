package connector

import (
	"bytes"
	"errors"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/patchbay-mcp/patchbay"
)

// schemaLocation is the base URI parameter schemas are compiled under. It
// is never fetched: the compiler's loader refuses every URL.
const schemaLocation = "https://patchbay.invalid/parameters.json"

// noLoader refuses to load any schema resource, so that neither the network
// nor the file system can be reached through $ref or $schema.
type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errors.New("only local $refs are allowed") }

func (v *checker) action(ap string, c *patchbay.Connector, r *patchbay.Resource, a *patchbay.Action, mcp bool) {
	v.length(ap+".name", a.Name, 1, maxNameLen, true)
	v.length(ap+".description", a.Description, 0, maxActionDescription, false)
	var pathParts []tmplPart
	if mcp {
		if a.Method != methodMCP {
			v.add(ap+".method", "must be MCP for type mcp")
		}
		if a.Path != "" {
			v.add(ap+".path", "is not used by type mcp")
		}
		if a.BodyEncoding != "" {
			v.add(ap+".bodyEncoding", "is not used by type mcp")
		}
		if len(a.Tool) > 128 {
			v.add(ap+".tool", "must be at most 128 characters")
		}
	} else {
		switch a.Method {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		case "":
			v.add(ap+".method", "is required")
		default:
			v.add(ap+".method", "must be GET, POST, PUT, PATCH, DELETE or HEAD")
		}
		if a.Tool != "" {
			v.add(ap+".tool", "is only for type mcp")
		}
		switch {
		case a.Path == "":
			v.add(ap+".path", "is required")
		case a.Path[0] != '/':
			v.add(ap+".path", "must start with /")
		case len(a.Path) > maxURLLen:
			v.add(ap+".path", "must be at most %d characters", maxURLLen)
		case !validPathTemplate(a.Path):
			v.add(ap+".path", "must contain only URL path characters (no ?, #, spaces or bad %% escapes) and {placeholders}")
		default:
			parts, ok := placeholders(a.Path)
			if !ok {
				v.add(ap+".path", "has unbalanced or empty {placeholder} braces")
			}
			for _, p := range parts {
				if p.param && strings.ContainsAny(p.name, "/%") {
					v.add(ap+".path", "placeholder {%s} must not contain / or %%", p.name)
					ok = false
				}
			}
			if ok {
				pathParts = parts
			}
		}
		switch a.BodyEncoding {
		case "", "json", "form":
		default:
			v.add(ap+".bodyEncoding", "must be json or form")
		}
	}
	if ip := a.ItemsPath(); ip != "" {
		if len(ip) > 256 || strings.HasPrefix(ip, ".") || strings.HasSuffix(ip, ".") || strings.Contains(ip, "..") {
			v.add(ap+".response.itemsPath", "must be a dot path of non-empty member names")
		}
	}
	v.parameters(ap, c, r, a, mcp, pathParts)
}

// parameters checks the parameter schema and, when compiling, builds the
// binding plan and the compiled schema.
func (v *checker) parameters(ap string, c *patchbay.Connector, r *patchbay.Resource, a *patchbay.Action, mcp bool, pathParts []tmplPart) {
	pp := ap + ".parameters"
	raw := []byte(a.Parameters)
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte(`{"type":"object"}`)
	}
	tb := treeBuilder{}
	root, err := tb.jsonTree(raw, pp)
	if err != nil {
		v.add(pp, "is not valid JSON: %v", err)
		return
	}
	v.problems = append(v.problems, tb.problems...)
	if root.kind != tObject {
		v.add(pp, "must be a JSON Schema object")
		return
	}
	if t := root.get("type"); t == nil || t.kind != tString || t.str != "object" {
		v.add(pp+".type", `must be "object"`)
	}
	n := len(v.problems)
	v.refs(root, pp, mcp)
	props := root.get("properties")
	if props != nil && props.kind != tObject {
		v.add(pp+".properties", "must be an object")
		props = nil
	}
	required := map[string]bool{}
	if req := root.get("required"); req != nil && req.kind == tArray {
		for _, e := range req.elem {
			if e.kind == tString {
				required[e.str] = true
			}
		}
	}
	var apiKey *patchbay.AuthScheme
	if !mcp {
		apiKey = c.Scheme(patchbay.AuthAPIKey)
	}
	placeholderSet := map[string]bool{}
	for _, p := range pathParts {
		if p.param {
			placeholderSet[p.name] = true
		}
	}
	bindings := map[string]*binding{}
	var bodyRoot *binding
	bodyCount := 0
	wires := map[string]string{} // location + wire name -> property path
	if props != nil {
		for i, name := range props.keys {
			s := props.vals[i]
			sp := joinPath(pp+".properties", name)
			if s.kind == tBool {
				s = &tree{kind: tObject}
			} else if s.kind != tObject {
				v.add(sp, "must be a schema object")
				continue
			}
			b := &binding{name: name, wire: name}
			if mcp {
				b.in = inArguments
				bindings[name] = b
				continue
			}
			explicit := ""
			if xin := s.get("x-in"); xin != nil {
				if xin.kind != tString {
					v.add(sp+".x-in", "must be path, query, header or body")
				} else {
					switch xin.str {
					case inPath, inQuery, inHeader, inBody:
						explicit = xin.str
					default:
						v.add(sp+".x-in", "must be path, query, header or body")
					}
				}
			}
			if xn := s.get("x-name"); xn != nil {
				if xn.kind != tString || xn.str == "" || len(xn.str) > 256 || strings.ContainsFunc(xn.str, isControl) {
					v.add(sp+".x-name", "must be a non-empty string without control characters")
				} else {
					b.wire = xn.str
				}
			}
			if xr := s.get("x-body-root"); xr != nil {
				if xr.kind != tBool {
					v.add(sp+".x-body-root", "must be a boolean")
				} else {
					b.bodyRoot = xr.b
				}
			}
			switch {
			case explicit != "":
				b.in = explicit
			case placeholderSet[name]:
				b.in = inPath
			case a.Method == "GET" || a.Method == "HEAD" || a.Method == "DELETE":
				b.in = inQuery
			default:
				b.in = inBody
			}
			types, items := schemaTypes(root, s)
			switch b.in {
			case inPath:
				if !placeholderSet[name] {
					v.add(sp, "has x-in: path but {%s} is not in the action path", name)
				}
				if !scalarTypes(types) {
					v.add(sp, "path parameters must declare a scalar type (string, integer, number or boolean)")
				}
			case inQuery:
				if !scalarTypes(types) && !arrayOfScalars(root, types, items) {
					v.add(sp, "query parameters must declare a scalar type or an array of scalars")
				}
				if apiKey != nil && apiKey.In == "query" && b.wire == apiKey.Name {
					v.add(sp, "query parameter %q is the apiKey parameter of the auth scheme", b.wire)
				}
			case inHeader:
				if !stringType(types) {
					v.add(sp, `header parameters must have type "string"`)
				}
				switch {
				case !validToken(b.wire):
					v.add(sp, "%q is not a valid header name", b.wire)
				case forbiddenParamHeader(b.wire):
					v.add(sp, "header %q may not be set by a parameter", b.wire)
				case apiKey != nil && apiKey.In == "header" && strings.EqualFold(b.wire, apiKey.Name):
					v.add(sp, "header %q is the apiKey header of the auth scheme", b.wire)
				}
			case inBody:
				switch a.Method {
				case "POST", "PUT", "PATCH", "DELETE":
				case "":
				default:
					v.add(sp, "body parameters are only allowed on POST, PUT, PATCH and DELETE")
				}
				bodyCount++
				if a.BodyEncoding == "form" {
					if b.bodyRoot {
						if !objectType(types) {
							v.add(sp, `a form body root must have type "object"`)
						}
					} else if !scalarTypes(types) && !arrayOfScalars(root, types, items) {
						v.add(sp, "form body parameters must declare a scalar type or an array of scalars")
					}
				}
			}
			if b.bodyRoot {
				switch {
				case b.in != inBody:
					v.add(sp+".x-body-root", "is only allowed on a body parameter")
				case bodyRoot != nil:
					v.add(sp+".x-body-root", "at most one property may have x-body-root (also %q)", bodyRoot.name)
				default:
					bodyRoot = b
				}
			}
			if b.in != inPath || placeholderSet[name] {
				key := b.in + "\x00" + b.wire
				if b.in == inHeader {
					key = b.in + "\x00" + strings.ToLower(b.wire)
				}
				if other, dup := wires[key]; dup {
					v.add(sp, "sends %s %q, as %s does", b.in, b.wire, other)
				} else {
					wires[key] = name
				}
			}
			switch b.in {
			case inHeader:
				b.wireKey = textproto.CanonicalMIMEHeaderKey(b.wire)
			case inQuery:
				b.wireKey = url.QueryEscape(b.wire)
			case inBody:
				if a.BodyEncoding == "form" {
					b.wireKey = url.QueryEscape(b.wire)
				} else {
					b.wireKey = string(appendJSONString(nil, b.wire)) + ":"
				}
			}
			bindings[name] = b
		}
	}
	if bodyRoot != nil && bodyCount > 1 {
		v.add(pp, "with x-body-root (%q) no other body parameter is allowed", bodyRoot.name)
	}
	for name := range placeholderSet {
		b := bindings[name]
		switch {
		case b == nil:
			v.add(ap+".path", "placeholder {%s} has no property in parameters", name)
		case b.in != inPath:
			v.add(ap+".path", "placeholder {%s} belongs to a parameter with x-in: %s", name, b.in)
		case !required[name]:
			v.add(ap+".path", "placeholder {%s} must be a required parameter", name)
		}
	}
	if len(v.problems) > n {
		return // the schema is broken already; compiling it adds noise
	}
	sch, err := compileSchema(root)
	if err != nil {
		v.add(pp, "is not a valid JSON Schema 2020-12: %v", err)
		return
	}
	if v.out == nil {
		return
	}
	ca := &compiledAction{
		def:         a,
		resource:    r,
		schema:      sch,
		props:       bindings,
		path:        pathParts,
		method:      a.Method,
		form:        a.BodyEncoding == "form",
		bodyRoot:    bodyRoot,
		mcp:         mcp,
		readOnly:    a.IsReadOnly(),
		destructive: a.IsDestructive(),
		idempotent:  a.IsIdempotent(),
	}
	if mcp {
		// §11.6: destructive defaults to true unless read-only.
		ca.readOnly = a.ReadOnly != nil && *a.ReadOnly
		ca.destructive = !ca.readOnly
		if a.Destructive != nil {
			ca.destructive = *a.Destructive
		}
		ca.idempotent = a.Idempotent != nil && *a.Idempotent
	}
	v.out.actions[a.ID] = ca
}

// refs reports $ref and $dynamicRef values that are not local, and $schema
// values other than draft 2020-12. MCP tool schemas may name any draft the
// validator embeds (many tools declare draft-07); an unknown one fails to
// compile, since nothing is ever fetched.
func (v *checker) refs(t *tree, path string, mcp bool) {
	switch t.kind {
	case tObject:
		for i, k := range t.keys {
			val := t.vals[i]
			p := joinPath(path, k)
			if val.kind == tString {
				switch k {
				case "$ref", "$dynamicRef":
					if !strings.HasPrefix(val.str, "#") {
						v.add(p, "only local references (starting with #) are allowed")
					}
				case "$schema":
					if !mcp && strings.TrimSuffix(val.str, "#") != schemaDraft2020 {
						v.add(p, "must be %s", schemaDraft2020)
					}
				}
				continue
			}
			v.refs(val, p, mcp)
		}
	case tArray:
		for i, e := range t.elem {
			v.refs(e, indexPath(path, i), mcp)
		}
	}
}

// compileSchema compiles a parameter schema with the top-level
// additionalProperties forced to false (§7.4: unknown members are refused).
func compileSchema(root *tree) (*jsonschema.Schema, error) {
	cp := &tree{kind: tObject, keys: make([]string, 0, len(root.keys)+1), vals: make([]*tree, 0, len(root.keys)+1)}
	for i, k := range root.keys {
		if k == "additionalProperties" {
			continue
		}
		cp.keys = append(cp.keys, k)
		cp.vals = append(cp.vals, root.vals[i])
	}
	cp.keys = append(cp.keys, "additionalProperties")
	cp.vals = append(cp.vals, &tree{kind: tBool, b: false})
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cp.appendJSON(nil)))
	if err != nil {
		return nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.UseLoader(noLoader{})
	if err := comp.AddResource(schemaLocation, doc); err != nil {
		return nil, err
	}
	return comp.Compile(schemaLocation)
}

// resolve follows local "#/..." references (a few hops) so that a property
// declared as {"$ref": "#/$defs/Id"} is classified by its target.
func resolve(root, s *tree) *tree {
	for range 8 {
		if s == nil || s.kind != tObject || s.get("type") != nil {
			return s
		}
		ref := s.get("$ref")
		if ref == nil || ref.kind != tString || !strings.HasPrefix(ref.str, "#/") {
			return s
		}
		t := root
		for _, tok := range strings.Split(ref.str[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			if u, err := url.PathUnescape(tok); err == nil {
				tok = u
			}
			t = t.get(tok)
			if t == nil {
				return s
			}
		}
		s = t
	}
	return s
}

// schemaTypes returns the declared type names of a property schema and its
// items schema.
func schemaTypes(root, s *tree) (types []string, items *tree) {
	s = resolve(root, s)
	if s == nil || s.kind != tObject {
		return nil, nil
	}
	switch t := s.get("type"); {
	case t == nil:
	case t.kind == tString:
		types = []string{t.str}
	case t.kind == tArray:
		for _, e := range t.elem {
			if e.kind == tString {
				types = append(types, e.str)
			}
		}
	}
	return types, s.get("items")
}

// scalarTypes: at least one scalar type and nothing but scalars and null.
func scalarTypes(types []string) bool {
	scalar := false
	for _, t := range types {
		switch t {
		case "string", "integer", "number", "boolean":
			scalar = true
		case "null":
		default:
			return false
		}
	}
	return scalar
}

func stringType(types []string) bool {
	str := false
	for _, t := range types {
		switch t {
		case "string":
			str = true
		case "null":
		default:
			return false
		}
	}
	return str
}

func objectType(types []string) bool {
	return len(types) == 1 && types[0] == "object"
}

func arrayOfScalars(root *tree, types []string, items *tree) bool {
	arr := false
	for _, t := range types {
		switch t {
		case "array":
			arr = true
		case "null":
		default:
			return false
		}
	}
	if !arr || items == nil {
		return false
	}
	it, _ := schemaTypes(root, items)
	return scalarTypes(it)
}

// validPathTemplate accepts RFC 3986 path characters (unreserved,
// sub-delims, ':', '@', '/', %XX escapes) and braces for placeholders, so
// that the encoded path Execute builds is used verbatim on the wire.
func validPathTemplate(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/{}", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
