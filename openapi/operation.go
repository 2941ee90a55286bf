package openapi

import (
	"cmp"
	"encoding/json"
	"mime"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/patchbay-mcp/patchbay"
)

// opRef is one operation of the document, in document order.
type opRef struct {
	key    string // the paths key as written; may carry a #fragment (Box does)
	method string // upper case
	item   *openapi3.PathItem
	op     *openapi3.Operation
	mapped bool // a method that can become an action (not OPTIONS or TRACE)
}

func (r opRef) label() string { return r.method + " " + r.key }

// operations lists the document's operations in document order: paths by
// position, then the operations of a path by position.
func (m *mapper) operations() []opRef {
	if m.doc.Paths == nil {
		return nil
	}
	keys := m.doc.Paths.Keys()
	slices.Sort(keys)
	slices.SortStableFunc(keys, func(a, b string) int {
		return compareOrigin(m.doc.Paths.Value(a).Origin, m.doc.Paths.Value(b).Origin)
	})
	var out []opRef
	for _, key := range keys {
		item := m.doc.Paths.Value(key)
		if item == nil {
			continue
		}
		start := len(out)
		for _, e := range []struct {
			method string
			op     *openapi3.Operation
			mapped bool
		}{
			{"GET", item.Get, true}, {"PUT", item.Put, true}, {"POST", item.Post, true},
			{"DELETE", item.Delete, true}, {"PATCH", item.Patch, true}, {"HEAD", item.Head, true},
			{"OPTIONS", item.Options, false}, {"TRACE", item.Trace, false},
		} {
			if e.op != nil {
				out = append(out, opRef{key: key, method: e.method, item: item, op: e.op, mapped: e.mapped})
			}
		}
		slices.SortStableFunc(out[start:], func(a, b opRef) int { return compareOrigin(a.op.Origin, b.op.Origin) })
	}
	return out
}

// prop is one top-level property of an action's parameter schema.
type prop struct {
	wire     string // name on the wire
	in       string
	schema   *obj
	required bool
	bodyRoot bool
}

// Locations in the order §11.5 gives for name clashes.
var locations = [...]string{"path", "query", "header", "body"}

// operation maps one operation to an action, or records why it cannot.
func (m *mapper) operation(r opRef) {
	label := r.label()
	if !r.mapped {
		m.warnf("operation %s skipped: %s operations are not supported", label, r.method)
		return
	}
	op := r.op
	path, _, _ := strings.Cut(r.key, "#")
	if strings.Contains(path, "?") {
		m.warnf("operation %s skipped: the path carries a query string", label)
		return
	}
	if !strings.HasPrefix(path, "/") {
		m.warnf("operation %s skipped: the path does not start with /", label)
		return
	}
	path = escapePath(path)
	for _, name := range pathPlaceholders(path) {
		if strings.ContainsAny(name, "/%{") {
			m.warnf("operation %s skipped: placeholder {%s} is not a plain name", label, name)
			return
		}
	}
	servers := r.item.Servers
	if op.Servers != nil {
		servers = *op.Servers
	}
	if u := m.foreignServer(servers, m.base); u != "" {
		m.warnf("operation %s skipped: it is served from %s, not from the base URL", label, u)
		return
	}

	params, ok := m.render(r, path)
	if !ok {
		return
	}
	if len(op.Callbacks) > 0 {
		m.warnf("operation %s: callbacks ignored", label)
	}

	a := patchbay.Action{
		Method:       r.method,
		Path:         path,
		Parameters:   params,
		BodyEncoding: m.encoding,
	}
	a.Name = cut(oneLine(op.Summary), maxNameLen)
	if a.Name == "" {
		a.Name = cut(oneLine(op.OperationID), maxNameLen)
	}
	if a.Name == "" {
		a.Name = cut(r.method+" "+path, maxNameLen)
	}
	a.Description = strings.TrimSpace(op.Description)
	if a.Description == "" {
		a.Description = strings.TrimSpace(op.Summary)
	}
	a.Description = cut(a.Description, maxActionDescLen)
	if v, ok := op.Extensions["x-patchbay-read-only"]; ok {
		if b, isBool := v.(bool); isBool {
			a.ReadOnly = patchbay.Bool(b)
		} else {
			m.warnf("operation %s: x-patchbay-read-only ignored: not a boolean", label)
		}
	}
	if v, ok := op.Extensions["x-patchbay-items-path"]; ok {
		switch s, isString := v.(string); {
		case !isString:
			m.warnf("operation %s: x-patchbay-items-path ignored: not a string", label)
		case s == "":
			// explicitly no list
		case len(s) > 256 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, ".."):
			m.warnf("operation %s: x-patchbay-items-path %q ignored: not a dot path", label, cut(s, 100))
		default:
			a.Response = &patchbay.ActionResponse{ItemsPath: s}
		}
	} else if p := itemsPath(op); p != "" {
		a.Response = &patchbay.ActionResponse{ItemsPath: p}
	}

	id := methodPathID(r.method, r.key)
	if op.OperationID != "" {
		id = actionID(op.OperationID)
	}
	a.ID = dedupe(id, m.actionIDs)
	res := m.resource(op, path)
	res.Actions = append(res.Actions, a)
}

// render builds the parameter schema of an operation, shrinking it level by
// level while it is larger than maxParamsSize. ok is false when the operation
// was skipped (the warning is recorded).
func (m *mapper) render(r opRef, path string) (json.RawMessage, bool) {
	label := r.label()
	mark := len(m.warnings)
	defer func() { m.conv.level = levels[0] }()
	for i, lv := range levels {
		// Each attempt reports its own warnings; only the last one's stay.
		m.warnings = m.warnings[:mark]
		m.conv.level = lv
		m.conv.notes = m.conv.notes[:0]
		m.conv.budget, m.conv.exhausted = maxNodes, false
		props, skip := m.parameters(r, path)
		if skip != "" {
			m.warnf("operation %s skipped: %s", label, skip)
			return nil, false
		}
		body, encoding, skip := m.requestBody(r)
		if skip != "" {
			m.warnf("operation %s skipped: %s", label, skip)
			return nil, false
		}
		m.encoding = encoding
		params, err := rootSchema(append(props, body...)).MarshalJSON()
		if err != nil {
			m.warnf("operation %s skipped: its parameter schema cannot be encoded: %v", label, err)
			return nil, false
		}
		if (len(params) > maxParamsSize || m.conv.exhausted) && i < len(levels)-1 {
			continue
		}
		for _, n := range m.conv.notes {
			m.warnf("operation %s: %s", label, n)
		}
		if m.conv.exhausted {
			m.warnf("operation %s: parameter schema cut to {} after %d nodes", label, maxNodes)
		} else if lv.depth < maxSchemaDepth {
			m.warnf("operation %s: parameter schema nested deeper than %d levels cut to {} to keep it under %d KiB",
				label, lv.depth-1, maxParamsSize>>10)
		}
		return params, true
	}
	return nil, false // not reached: the last level always returns
}

// resource returns the resource of an operation, creating it on first use:
// from the first tag, else the first literal path segment, else default.
func (m *mapper) resource(op *openapi3.Operation, path string) *patchbay.Resource {
	var id, name, desc string
	if len(op.Tags) > 0 && strings.TrimSpace(op.Tags[0]) != "" {
		tag := op.Tags[0]
		id, name = resourceID(tag), tag
		if t := m.doc.Tags.Get(tag); t != nil {
			desc = cut(strings.TrimSpace(t.Description), maxDescLen)
		}
	} else if seg := firstSegment(path); seg != "" {
		id, name = resourceID(seg), seg
	} else {
		id, name = "default", "default"
	}
	if i, ok := m.resIndex[id]; ok {
		return &m.resources[i]
	}
	m.resIndex[id] = len(m.resources)
	m.resources = append(m.resources, patchbay.Resource{
		ID: id, Name: cut(oneLine(name), maxNameLen), Description: desc, Actions: []patchbay.Action{},
	})
	return &m.resources[len(m.resources)-1]
}

// rootSchema assembles the action's parameter schema, renaming properties
// whose names clash with an earlier location's (§11.5).
func rootSchema(props []prop) *obj {
	root := &obj{}
	root.set("type", "object")
	if len(props) == 0 {
		return root
	}
	used := make(map[string]bool, len(props))
	properties := &obj{}
	var required []string
	for _, p := range props {
		name := p.wire
		if used[name] {
			name = p.in + "_" + p.wire
			for n := 2; used[name]; n++ {
				name = p.in + "_" + p.wire + "_" + itoa(n)
			}
		}
		used[name] = true
		s := p.schema
		s.set("x-in", p.in)
		if name != p.wire {
			s.set("x-name", p.wire)
		}
		if p.bodyRoot {
			s.set("x-body-root", true)
		}
		properties.set(name, s)
		if p.required {
			required = append(required, name)
		}
	}
	root.set("properties", properties)
	if len(required) > 0 {
		root.set("required", required)
	}
	return root
}

// forbiddenHeader reports header parameters the definition format forbids
// (§11.1), those the transport owns, and those Patchbay sets itself: it sends
// the body unencoded and lets its HTTP client negotiate compression.
func forbiddenHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "cookie", "host", "content-length", "content-type", "transfer-encoding", "connection",
		"te", "trailer", "upgrade", "keep-alive", "expect", "referer", "content-encoding", "accept-encoding":
		return true
	}
	return strings.HasPrefix(n, "proxy-") || strings.HasPrefix(n, "x-alloy-")
}

// validToken reports whether s is an RFC 9110 token, i.e. a header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// parameters maps path-level and operation-level parameters (the operation's
// win on the same name and location). skip is non-empty when the operation
// cannot be mapped.
func (m *mapper) parameters(r opRef, path string) (props []prop, skip string) {
	label := r.label()
	var merged []*openapi3.Parameter
	add := func(list openapi3.Parameters) {
		for _, pr := range list {
			if pr == nil || pr.Value == nil {
				continue
			}
			p := pr.Value
			i := slices.IndexFunc(merged, func(q *openapi3.Parameter) bool { return sameParam(q, p) })
			if i >= 0 {
				merged[i] = p
			} else {
				merged = append(merged, p)
			}
		}
	}
	add(r.item.Parameters)
	add(r.op.Parameters)

	placeholders := pathPlaceholders(path)
	for _, in := range locations[:3] {
		start := len(props)
		for _, p := range merged {
			if p.In != in {
				continue
			}
			switch {
			case in == "path" && !slices.Contains(placeholders, p.Name):
				m.warnf("operation %s: path parameter %s skipped: not in the path", label, p.Name)
				continue
			case in == "header" && forbiddenHeader(p.Name):
				m.warnf("operation %s: header parameter %s skipped: Patchbay sets this header", label, p.Name)
				continue
			case in == "header" && !validToken(p.Name):
				m.warnf("operation %s: header parameter %q skipped: not a valid header name", label, p.Name)
				continue
			case m.isAPIKey(in, p.Name):
				continue // the credential supplies it
			}
			s, why := m.paramShape(p)
			if s == nil {
				if p.Required || in == "path" {
					return nil, "required " + in + " parameter " + p.Name + " " + why
				}
				m.warnf("operation %s: %s parameter %s skipped: it %s", label, in, p.Name, why)
				continue
			}
			props = append(props, prop{wire: p.Name, in: in, schema: s, required: p.Required || in == "path"})
		}
		if in == "path" {
			for _, name := range placeholders {
				if !slices.ContainsFunc(props[start:], func(p prop) bool { return p.wire == name }) {
					m.warnf("operation %s: path parameter %s is not declared; added as a string", label, name)
					s := &obj{}
					s.set("type", "string")
					props = append(props, prop{wire: name, in: "path", schema: s, required: true})
				}
			}
			slices.SortStableFunc(props[start:], func(a, b prop) int {
				return cmp.Compare(slices.Index(placeholders, a.wire), slices.Index(placeholders, b.wire))
			})
		}
	}
	for _, p := range merged {
		switch p.In {
		case "path", "query", "header":
		case "cookie":
			m.warnf("operation %s: cookie parameter %s skipped", label, p.Name)
		default:
			m.warnf("operation %s: parameter %s skipped: unknown location %q", label, p.Name, p.In)
		}
	}
	return props, ""
}

// sameParam reports whether two parameters are the same: name and location,
// header names compared case-insensitively as HTTP does.
func sameParam(a, b *openapi3.Parameter) bool {
	if a.In != b.In {
		return false
	}
	if a.In == "header" {
		return strings.EqualFold(a.Name, b.Name)
	}
	return a.Name == b.Name
}

// isAPIKey reports whether a parameter is the one an apiKey scheme fills in.
func (m *mapper) isAPIKey(in, name string) bool {
	for _, s := range m.apiKeys {
		if s.In == in && (s.Name == name || in == "header" && strings.EqualFold(s.Name, name)) {
			return true
		}
	}
	return false
}

// pathPlaceholders lists the {name} placeholders of a path in order.
func pathPlaceholders(path string) []string {
	var out []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return out
		}
		if name := path[i+1 : i+j]; name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
		path = path[i+j+1:]
	}
}

// requestBody maps the request body: JSON (application/json or +json) first,
// else an urlencoded form; anything else skips the operation.
func (m *mapper) requestBody(r opRef) (props []prop, encoding, skip string) {
	if r.op.RequestBody == nil || r.op.RequestBody.Value == nil {
		return nil, "", ""
	}
	rb := r.op.RequestBody.Value
	if len(rb.Content) == 0 {
		return nil, "", ""
	}
	mt, _ := jsonMedia(rb.Content)
	if mt == nil {
		if f := formMedia(rb.Content); f != nil {
			mt, encoding = f, "form"
		}
	}
	if mt == nil {
		mt = wildcardMedia(rb.Content)
	}
	if mt == nil {
		types := sortedKeys(rb.Content)
		if len(types) == 1 {
			return nil, "", "unsupported request content type " + types[0]
		}
		return nil, "", "unsupported request content types " + strings.Join(types, ", ")
	}
	switch r.method {
	case "POST", "PUT", "PATCH", "DELETE":
	default:
		if rb.Required {
			return nil, "", "a " + r.method + " request cannot carry the required body"
		}
		m.warnf("operation %s: request body ignored: a %s request cannot carry one", r.label(), r.method)
		return nil, "", ""
	}
	if fields, required, ok := objectView(mt.Schema); ok {
		for _, f := range fields {
			if isReadOnly(f.ref) {
				continue
			}
			req := rb.Required && slices.Contains(required, f.name)
			if encoding == "form" {
				// A form carries scalars and repeated scalars only.
				if sh, _, _ := classify(f.ref, 0); sh != shapeScalar && sh != shapeArray && sh != shapeAny {
					if req {
						return nil, "", "required form field " + f.name + " is not a scalar"
					}
					m.warnf("operation %s: form field %s skipped: not a scalar", r.label(), f.name)
					continue
				}
			}
			s := m.conv.schema(f.ref, 1)
			o, isObj := s.(*obj)
			if !isObj {
				o = &obj{}
			}
			if encoding == "form" {
				if _, typed := o.get("type"); !typed {
					o.set("type", "string")
				}
			}
			props = append(props, prop{wire: f.name, in: "body", schema: o, required: req})
		}
		if len(props) > 0 {
			return props, encoding, ""
		}
	}
	if encoding == "form" {
		return nil, "", "the form body is not an object"
	}
	s := m.conv.schema(mt.Schema, 1)
	o, isObj := s.(*obj)
	if !isObj {
		o = &obj{}
	}
	if d := strings.TrimSpace(rb.Description); d != "" {
		if _, has := o.get("description"); !has {
			o.set("description", d)
		}
	}
	return []prop{{wire: "body", in: "body", schema: o, required: rb.Required, bodyRoot: true}}, encoding, ""
}

// jsonMedia picks application/json, else the first */*+json type. A media
// type written without an object (`application/json:` with no schema) is an
// unconstrained body, not a missing one.
func jsonMedia(content openapi3.Content) (*openapi3.MediaType, string) {
	var plus string
	for _, k := range sortedKeys(content) {
		mt, _, err := mime.ParseMediaType(k)
		if err != nil {
			continue
		}
		if mt == "application/json" {
			return mediaOrEmpty(content[k]), k
		}
		if plus == "" && strings.HasSuffix(mt, "+json") {
			plus = k
		}
	}
	if plus != "" {
		return mediaOrEmpty(content[plus]), plus
	}
	return nil, ""
}

// wildcardMedia picks */* or application/*: the API takes anything, and JSON
// is what Patchbay sends. Swagger 2.0 documents without consumes convert to
// */*.
func wildcardMedia(content openapi3.Content) *openapi3.MediaType {
	for _, k := range sortedKeys(content) {
		if mt, _, err := mime.ParseMediaType(k); err == nil && (mt == "*/*" || mt == "application/*") {
			return mediaOrEmpty(content[k])
		}
	}
	return nil
}

func mediaOrEmpty(mt *openapi3.MediaType) *openapi3.MediaType {
	if mt == nil {
		return &openapi3.MediaType{}
	}
	return mt
}

func formMedia(content openapi3.Content) *openapi3.MediaType {
	for _, k := range sortedKeys(content) {
		if mt, _, err := mime.ParseMediaType(k); err == nil && mt == "application/x-www-form-urlencoded" {
			return mediaOrEmpty(content[k])
		}
	}
	return nil
}

// itemsPath finds the list in the success response (§11.5): none for an
// array; the one array-typed property of an object; else none.
func itemsPath(op *openapi3.Operation) string {
	if op.Responses == nil {
		return ""
	}
	resp := op.Responses.Value("200")
	if resp == nil {
		for _, code := range sortedKeys(op.Responses.Map()) {
			if len(code) == 3 && code[0] == '2' {
				resp = op.Responses.Value(code)
				break
			}
		}
	}
	if resp == nil || resp.Value == nil {
		return ""
	}
	mt, _ := jsonMedia(resp.Value.Content)
	if mt == nil {
		mt = wildcardMedia(resp.Value.Content)
	}
	if mt == nil || mt.Schema == nil {
		return ""
	}
	if slices.Contains(typesOf(mt.Schema), "array") {
		return ""
	}
	props, _, ok := objectView(mt.Schema)
	if !ok {
		return ""
	}
	found := ""
	for _, p := range props {
		if slices.Contains(typesOf(p.ref), "array") {
			if p.name == "" || strings.Contains(p.name, ".") {
				return "" // not expressible as a dot path
			}
			if found != "" {
				return ""
			}
			found = p.name
		}
	}
	return found
}

// escapePath percent-encodes the bytes of a path template that RFC 3986
// does not allow in a path (spaces, non-ASCII, stray %), leaving the
// {placeholders} as they are, so the runtime can send the path verbatim.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	inBraces := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '{':
			inBraces = true
		case c == '}':
			inBraces = false
		case inBraces, isLetter(c), c >= '0' && c <= '9', strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
		default:
			if b.Len() == 0 {
				b.WriteString(p[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return p
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
