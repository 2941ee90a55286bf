package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/patchbay-mcp/patchbay"
)

// Options are the members of an import request that override the document
// (§11.4 form 2). Empty members take the document's values.
type Options struct {
	ID         string   // connector id; default: slug of info.title
	Name       string   // default: info.title
	BaseURL    string   // default: servers[0].url with variable defaults
	Categories []string // copied as given
}

// Result is an imported connector definition and what the import could not
// map. The connector has Type rest and still needs the definition checks of
// §11.1 (connector.Validate) like any other definition.
type Result struct {
	Connector *patchbay.Connector
	Warnings  []string
}

// Details reasons of the errors Import returns (all EInvalid).
const (
	ReasonInvalidDocument    = "invalid_openapi"
	ReasonUnsupportedVersion = "unsupported_openapi_version"
	ReasonExternalRef        = "external_ref"
	ReasonRelativeServerURL  = "relative_server_url"
	ReasonTooManyOperations  = "too_many_operations"
	ReasonNoOperations       = "no_operations"
)

// Import maps an OpenAPI 3.0/3.1 or Swagger 2.0 document, JSON or YAML, to a
// connector definition (§11.5). Errors are *patchbay.Error with code EInvalid
// and details field/reason. Import never reads a file or fetches a URL.
func Import(doc []byte, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	t, err := load(doc)
	if err != nil {
		return nil, err
	}
	m := &mapper{doc: t, opts: opts, conv: newConverter()}
	return m.run()
}

// errNoFetch is what the loader gets instead of the content of any file or
// URL a $ref names.
type errNoFetch struct{ uri string }

func (e *errNoFetch) Error() string { return "external reference " + e.uri + " not allowed" }

func newLoader() *openapi3.Loader {
	l := openapi3.NewLoader()
	l.Context = context.Background()
	l.IsExternalRefsAllowed = false
	// A custom reader bypasses IsExternalRefsAllowed, so this one refuses
	// everything: the import never touches the file system or the network,
	// whatever kin-openapi's default policy becomes.
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		return nil, &errNoFetch{uri: u.String()}
	}
	// Positions give document order to paths, operations and properties,
	// which Go maps lose.
	l.IncludeOrigin = true
	return l
}

// load parses and resolves the document. kin-openapi v0.153 reads OpenAPI
// 3.1 natively (type arrays, const, examples, $ref siblings, $defs, boolean
// schemas, webhooks, jsonSchemaDialect), so no pre-normalization is needed;
// Swagger 2.0 is converted with openapi2conv first.
func load(doc []byte) (t *openapi3.T, err error) {
	defer func() {
		// kin-openapi is a large parser of untrusted input; a panic in it must
		// fail this import, not the server.
		if r := recover(); r != nil {
			t, err = nil, invalidDocument(fmt.Errorf("parser panic: %v", r))
		}
	}()
	t, err = newLoader().LoadFromData(doc)
	if err != nil || t.OpenAPI == "" {
		if external(err) {
			return nil, externalRefError(err)
		}
		if t2, ok, err2 := loadSwagger(doc); ok {
			return t2, err2
		}
		if err == nil {
			return nil, patchbay.Errorf(patchbay.EInvalid, "document is not OpenAPI 3.0, 3.1 or Swagger 2.0: no openapi member").
				Field("openapi").Reason(ReasonUnsupportedVersion)
		}
		return nil, invalidDocument(err)
	}
	switch v := t.OpenAPIMajorMinor(); v {
	case "3.0", "3.1":
	default:
		return nil, patchbay.Errorf(patchbay.EInvalid, "OpenAPI version %q is not supported (3.0, 3.1 or Swagger 2.0)", cut(t.OpenAPI, 20)).
			Field("openapi").Reason(ReasonUnsupportedVersion)
	}
	return t, nil
}

// loadSwagger converts a Swagger 2.0 document; ok is false when doc is not one.
func loadSwagger(doc []byte) (*openapi3.T, bool, error) {
	var d2 openapi2.T
	if err := openapi2.UnmarshalFromData(doc, &d2); err != nil || d2.Swagger == "" {
		return nil, false, nil
	}
	if d2.Swagger != "2.0" {
		return nil, true, patchbay.Errorf(patchbay.EInvalid, "Swagger version %q is not supported (2.0 only)", cut(d2.Swagger, 20)).
			Field("openapi").Reason(ReasonUnsupportedVersion)
	}
	l := newLoader()
	l.IncludeOrigin = false
	t, err := openapi2conv.ToV3WithLoader(&d2, l, nil)
	if err != nil {
		if external(err) {
			return nil, true, externalRefError(err)
		}
		return nil, true, invalidDocument(err)
	}
	requireFormBodies(t)
	return t, true, nil
}

// requireFormBodies marks the request bodies that openapi2conv builds from
// formData parameters as required when one of those parameters was: in
// Swagger 2.0 each formData parameter carries its own required flag, which
// the conversion keeps in the schema but not on the body, and §11.5 only
// keeps a body's required list when the body is required.
func requireFormBodies(t *openapi3.T) {
	if t.Paths == nil {
		return
	}
	for _, item := range t.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			for _, mt := range op.RequestBody.Value.Content {
				if mt != nil && mt.Schema != nil && mt.Schema.Value != nil && len(mt.Schema.Value.Required) > 0 {
					op.RequestBody.Value.Required = true
				}
			}
		}
	}
}

func external(err error) bool {
	var nf *errNoFetch
	var dis *openapi3.DisallowedExternalRefError
	return err != nil && (errors.As(err, &nf) || errors.As(err, &dis))
}

func externalRefError(err error) error {
	ref := ""
	var nf *errNoFetch
	var dis *openapi3.DisallowedExternalRefError
	switch {
	case errors.As(err, &nf):
		ref = nf.uri
	case errors.As(err, &dis):
		ref = dis.Ref
	}
	return patchbay.Errorf(patchbay.EInvalid, "only local $refs are supported; %q is external", cut(ref, 200)).
		Field("openapi").Reason(ReasonExternalRef).Wrap(err)
}

func invalidDocument(err error) error {
	return patchbay.Errorf(patchbay.EInvalid, "invalid OpenAPI document: %s", cut(err.Error(), 300)).
		Field("openapi").Reason(ReasonInvalidDocument).Wrap(err)
}

// mapper holds the state of one import.
type mapper struct {
	doc      *openapi3.T
	opts     *Options
	conv     *converter
	warnings []string

	servers   []string // the document's server URLs, variables filled in
	base      string   // the connector's baseUrl
	encoding  string   // body encoding of the operation being rendered
	resources []patchbay.Resource
	resIndex  map[string]int  // resource id -> index in resources
	actionIDs map[string]bool // lower-case action ids taken
	apiKeys   []patchbay.AuthScheme
}

func (m *mapper) warnf(format string, args ...any) {
	m.warnings = append(m.warnings, fmt.Sprintf(format, args...))
}

func (m *mapper) run() (*Result, error) {
	t := m.doc
	ops := m.operations()
	if n := countMapped(ops); n > maxOperations {
		return nil, patchbay.Errorf(patchbay.EInvalid, "the document has %d operations; at most %d can be imported", n, maxOperations).
			Field("openapi").Reason(ReasonTooManyOperations).With("operations", n)
	}
	c := &patchbay.Connector{Type: patchbay.ConnectorREST}
	title := ""
	if t.Info != nil {
		title = t.Info.Title
		c.Name = cut(oneLine(title), maxNameLen)
		c.Description = cut(strings.TrimSpace(t.Info.Description), maxDescLen)
	}
	c.ID = m.opts.ID
	if c.ID == "" {
		c.ID = connectorID(title)
	}
	if m.opts.Name != "" {
		c.Name = m.opts.Name
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if len(m.opts.Categories) > 0 {
		c.Categories = slices.Clone(m.opts.Categories)
	}
	base, err := m.baseURL()
	if err != nil {
		return nil, err
	}
	c.BaseURL, m.base = base, base
	c.Auth = m.auth()
	m.resIndex = make(map[string]int)
	m.actionIDs = make(map[string]bool)
	for _, op := range ops {
		m.operation(op)
	}
	switch d := strings.TrimSuffix(t.JSONSchemaDialect, "#"); d {
	case "", "https://spec.openapis.org/oas/3.1/dialect/base", "https://json-schema.org/draft/2020-12/schema":
	default:
		m.warnf("jsonSchemaDialect %s ignored: schemas are read as JSON Schema 2020-12", cut(d, 200))
	}
	if len(t.Webhooks) > 0 {
		m.warnf("webhooks ignored: %d webhook(s) describe calls the API makes, not operations to call", len(t.Webhooks))
	}
	if len(m.resources) == 0 {
		return nil, patchbay.Errorf(patchbay.EInvalid, "no operation of the document could be imported").
			Field("openapi").Reason(ReasonNoOperations).With("warnings", m.warnings)
	}
	c.Resources = m.resources
	return &Result{Connector: c, Warnings: m.warnings}, nil
}

// baseURL is Options.BaseURL, else the first server's URL with its variables'
// defaults. http is upgraded to https because a definition needs https for
// any host not on the instance's SSRF allowlist; an administrator who needs
// http passes BaseURL.
func (m *mapper) baseURL() (string, error) {
	for _, s := range m.doc.Servers {
		if s != nil {
			m.servers = append(m.servers, serverURL(s))
		}
	}
	if m.opts.BaseURL != "" {
		// Paths start with /, so a trailing / would double it.
		return strings.TrimRight(m.opts.BaseURL, "/"), nil
	}
	if len(m.servers) == 0 {
		return "", patchbay.Errorf(patchbay.EInvalid, "the document has no servers; give baseUrl").
			Field("baseUrl").Reason(ReasonRelativeServerURL)
	}
	raw := m.servers[0]
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", patchbay.Errorf(patchbay.EInvalid, "the document's server URL %q is relative; give baseUrl", cut(raw, 200)).
			Field("baseUrl").Reason(ReasonRelativeServerURL)
	}
	if strings.EqualFold(u.Scheme, "http") {
		u.Scheme = "https"
		m.warnf("server URL %s uses http; baseUrl set to %s", raw, u.String())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// serverURL fills a server's variables with their defaults.
func serverURL(s *openapi3.Server) string {
	out := s.URL
	for _, name := range sortedKeys(s.Variables) {
		if v := s.Variables[name]; v != nil {
			out = strings.ReplaceAll(out, "{"+name+"}", v.Default)
		}
	}
	return strings.TrimRight(out, "/")
}

// foreignServer returns the first of an operation's own servers when none of
// them is one of the document's servers or base: its path then cannot be
// appended to baseUrl. It returns "" when the operation can be mapped.
func (m *mapper) foreignServer(servers openapi3.Servers, base string) string {
	first := ""
	for _, s := range servers {
		if s == nil {
			continue
		}
		u := serverURL(s)
		if slices.Contains(m.servers, u) || u == strings.TrimRight(base, "/") {
			return ""
		}
		if first == "" {
			first = u
		}
	}
	return first
}

func countMapped(ops []opRef) int {
	n := 0
	for _, op := range ops {
		if op.mapped {
			n++
		}
	}
	return n
}
