package connector

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
)

// ValidateOptions tunes definition validation. nil means defaults.
type ValidateOptions struct {
	// AllowHTTP reports whether host may be reached over plain http: the
	// hosts of the SSRF allowlist (§15). nil: https only.
	AllowHTTP func(host string) bool
}

func (o *ValidateOptions) allowHTTP(host string) bool {
	return o != nil && o.AllowHTTP != nil && o.AllowHTTP(host)
}

// Limits of §11.1.
const (
	maxNameLen           = 100
	maxDescriptionLen    = 2000
	maxActionDescription = 4000
	maxCategories        = 10
	maxResources         = 200
	maxActionsPerRes     = 500
	maxActions           = 1000
	maxURLLen            = 2048
	methodMCP            = "MCP"
	schemaDraft2020      = "https://json-schema.org/draft/2020-12/schema"
)

// Parameter locations (x-in), plus "arguments" for MCP tools.
const (
	inPath      = "path"
	inQuery     = "query"
	inHeader    = "header"
	inBody      = "body"
	inArguments = "arguments"
)

// Validate checks every rule of §11.1 and returns all problems found, in
// document order; nil means the definition is valid.
func Validate(c *patchbay.Connector, opts *ValidateOptions) []Problem {
	v := checker{opts: opts}
	v.connector(c)
	return v.problems
}

// checker walks a connector once; with out set it also builds the compiled
// form, so that validation and compilation cannot disagree.
type checker struct {
	opts     *ValidateOptions
	problems []Problem
	out      *Compiled // nil: validate only
}

func (v *checker) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *checker) length(path, s string, lo, hi int, required bool) {
	n := utf8.RuneCountInString(s)
	switch {
	case s == "" && required:
		v.add(path, "is required")
	case n < lo || n > hi:
		if lo == 0 {
			v.add(path, "must be at most %d characters", hi)
		} else {
			v.add(path, "must be %d to %d characters", lo, hi)
		}
	}
}

func (v *checker) connector(c *patchbay.Connector) {
	switch {
	case c.ID == "":
		v.add("id", "is required")
	case !patchbay.ValidConnectorID(c.ID):
		v.add("id", "must match ^[a-z0-9][a-z0-9-]{0,47}$")
	}
	v.length("name", c.Name, 1, maxNameLen, true)
	v.length("description", c.Description, 0, maxDescriptionLen, false)
	if len(c.Categories) > maxCategories {
		v.add("categories", "must have at most %d entries", maxCategories)
	}
	for i, cat := range c.Categories {
		if !validCategory(cat) {
			v.add(indexPath("categories", i), "must match ^[a-z0-9][a-z0-9-]{0,63}$")
		}
	}
	mcp := false
	switch c.Type {
	case "", patchbay.ConnectorREST:
	case patchbay.ConnectorMCP:
		mcp = true
	default:
		v.add("type", "must be rest or mcp")
	}
	fields := v.schemes(c.Auth)
	if mcp {
		if c.BaseURL != "" {
			v.add("baseUrl", "is only for type rest; use url")
		}
		if c.URL == "" {
			v.add("url", "is required for type mcp")
		} else if u := v.absoluteURL("url", c.URL, true); u != nil && v.out != nil {
			v.out.mcpURL = u
		}
		v.headers(c.Headers)
	} else {
		if c.URL != "" {
			v.add("url", "is only for type mcp; use baseUrl")
		}
		if len(c.Headers) > 0 {
			v.add("headers", "are only for type mcp")
		}
		if c.BaseURL == "" {
			v.add("baseUrl", "is required")
		} else {
			v.baseURL(c.BaseURL, c.Auth, fields)
		}
		if len(c.Resources) == 0 {
			v.add("resources", "must have 1 to %d entries", maxResources)
		}
	}
	if len(c.Resources) > maxResources {
		v.add("resources", "must have 1 to %d entries", maxResources)
	}
	if n := c.ActionCount(); n > maxActions {
		v.add("resources", "must have at most %d actions in total (has %d)", maxActions, n)
	}
	resIDs := make(map[string]string, len(c.Resources))
	actIDs := make(map[string]string, c.ActionCount())
	for i := range c.Resources {
		r := &c.Resources[i]
		rp := indexPath("resources", i)
		switch {
		case r.ID == "":
			v.add(rp+".id", "is required")
		case !patchbay.ValidResourceID(r.ID):
			v.add(rp+".id", "must match ^[a-z0-9][a-z0-9_]{0,63}$")
		case resIDs[r.ID] != "":
			v.add(rp+".id", "duplicate resource id %q (first at %s)", r.ID, resIDs[r.ID])
		default:
			resIDs[r.ID] = rp
		}
		v.length(rp+".name", r.Name, 1, maxNameLen, true)
		v.length(rp+".description", r.Description, 0, maxDescriptionLen, false)
		if len(r.Actions) == 0 || len(r.Actions) > maxActionsPerRes {
			v.add(rp+".actions", "must have 1 to %d entries", maxActionsPerRes)
		}
		for j := range r.Actions {
			a := &r.Actions[j]
			ap := indexPath(rp+".actions", j)
			switch {
			case a.ID == "":
				v.add(ap+".id", "is required")
			case !patchbay.ValidActionID(a.ID):
				v.add(ap+".id", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
			default:
				low := strings.ToLower(a.ID)
				if first := actIDs[low]; first != "" {
					v.add(ap+".id", "duplicate action id %q (ids are unique case-insensitively; first at %s)", a.ID, first)
				} else {
					actIDs[low] = ap
				}
			}
			v.action(ap, c, r, a, mcp)
		}
	}
}

func validCategory(s string) bool {
	if len(s) < 1 || len(s) > 64 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// reservedFieldNames are the standard credential fields of §12.2; an extra
// field may not reuse them.
func reservedFieldName(s string) bool {
	switch s {
	case "apiKey", "token", "username", "password":
		return true
	}
	return false
}

// validFieldName: extra credential fields are named like identifiers, so
// that they can be placeholders and form members.
func validFieldName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	if c := s[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// schemes checks auth[] and returns, per scheme index, its fields by name.
func (v *checker) schemes(auth []patchbay.AuthScheme) []map[string]*patchbay.AuthField {
	seen := make(map[string]int, len(auth))
	out := make([]map[string]*patchbay.AuthField, len(auth))
	for i := range auth {
		s := &auth[i]
		p := indexPath("auth", i)
		switch s.Type {
		case patchbay.AuthOAuth2, patchbay.AuthAPIKey, patchbay.AuthBearer, patchbay.AuthBasic:
			if j, dup := seen[s.Type]; dup {
				v.add(p+".type", "duplicate scheme type %q (at most one scheme per type; first at auth[%d])", s.Type, j)
			} else {
				seen[s.Type] = i
			}
		case "":
			v.add(p+".type", "is required")
		default:
			v.add(p+".type", "must be oauth2, apiKey, bearer or basic")
		}
		oauth := s.Type == patchbay.AuthOAuth2
		apiKey := s.Type == patchbay.AuthAPIKey
		notFor := func(name string, set bool, ok bool) {
			if set && !ok {
				v.add(p+"."+name, "is not a member of %s schemes", s.Type)
			}
		}
		notFor("authorizationUrl", s.AuthorizationURL != "", oauth)
		notFor("tokenUrl", s.TokenURL != "", oauth)
		notFor("revocationUrl", s.RevocationURL != "", oauth)
		notFor("scopes", len(s.Scopes) > 0, oauth)
		notFor("scopeSeparator", s.ScopeSeparator != "", oauth)
		notFor("pkce", s.PKCE != nil, oauth)
		notFor("tokenAuthMethod", s.TokenAuthMethod != "", oauth)
		notFor("authorizeParams", len(s.AuthorizeParams) > 0, oauth)
		notFor("in", s.In != "", apiKey)
		notFor("name", s.Name != "", apiKey)
		notFor("prefix", s.Prefix != "", apiKey)
		if oauth {
			if s.AuthorizationURL == "" {
				v.add(p+".authorizationUrl", "is required for oauth2")
			} else {
				v.absoluteURL(p+".authorizationUrl", s.AuthorizationURL, true)
			}
			if s.TokenURL == "" {
				v.add(p+".tokenUrl", "is required for oauth2")
			} else {
				v.absoluteURL(p+".tokenUrl", s.TokenURL, true)
			}
			if s.RevocationURL != "" {
				v.absoluteURL(p+".revocationUrl", s.RevocationURL, true)
			}
			for j, sc := range s.Scopes {
				if sc == "" || len(sc) > 256 || strings.ContainsFunc(sc, isSpaceOrControl) {
					v.add(indexPath(p+".scopes", j), "must be 1 to 256 characters without spaces or control characters")
				}
			}
			if strings.ContainsFunc(s.ScopeSeparator, isControl) || len(s.ScopeSeparator) > 8 {
				v.add(p+".scopeSeparator", "must be at most 8 characters without control characters")
			}
			switch s.TokenAuthMethod {
			case "", "client_secret_basic", "client_secret_post":
			default:
				v.add(p+".tokenAuthMethod", "must be client_secret_basic or client_secret_post")
			}
			for k := range s.AuthorizeParams {
				switch k {
				case "":
					v.add(p+".authorizeParams", "member names must not be empty")
				case "response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method":
					v.add(joinPath(p+".authorizeParams", k), "is set by Patchbay and cannot be overridden")
				}
			}
		}
		if apiKey {
			switch s.In {
			case "header":
				switch {
				case s.Name == "":
					v.add(p+".name", "is required for apiKey")
				case !validToken(s.Name):
					v.add(p+".name", "must be a valid header name")
				case framingHeader(s.Name):
					v.add(p+".name", "must not be %s", s.Name)
				}
				if strings.ContainsFunc(s.Prefix, isControl) {
					v.add(p+".prefix", "must not contain control characters")
				}
			case "query":
				if s.Name == "" {
					v.add(p+".name", "is required for apiKey")
				} else if len(s.Name) > 256 || strings.ContainsFunc(s.Name, isControl) {
					v.add(p+".name", "must be 1 to 256 characters without control characters")
				}
				if s.Prefix != "" {
					v.add(p+".prefix", "is only used with in: header")
				}
			case "":
				v.add(p+".in", "is required for apiKey")
			default:
				v.add(p+".in", "must be header or query")
			}
		}
		byName := make(map[string]*patchbay.AuthField, len(s.Fields))
		for j := range s.Fields {
			f := &s.Fields[j]
			fp := indexPath(p+".fields", j)
			switch {
			case f.Name == "":
				v.add(fp+".name", "is required")
			case !validFieldName(f.Name):
				v.add(fp+".name", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
			case reservedFieldName(f.Name):
				v.add(fp+".name", "%q is a standard credential field", f.Name)
			case byName[f.Name] != nil:
				v.add(fp+".name", "duplicate field %q", f.Name)
			default:
				byName[f.Name] = f
			}
			v.length(fp+".label", f.Label, 0, maxNameLen, false)
			if f.Pattern != "" {
				if _, err := regexp.Compile(f.Pattern); err != nil {
					v.add(fp+".pattern", "is not a valid regular expression")
				}
			}
			seenEnum := make(map[string]bool, len(f.Enum))
			for k, e := range f.Enum {
				if e == "" || seenEnum[e] {
					v.add(indexPath(fp+".enum", k), "must be a non-empty, unique value")
				}
				seenEnum[e] = true
			}
		}
		out[i] = byName
	}
	return out
}

func isControl(r rune) bool        { return r < 0x20 || r == 0x7f }
func isSpaceOrControl(r rune) bool { return r <= 0x20 || r == 0x7f }

// validToken reports whether s is an RFC 9110 token (a header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// framingHeader reports headers that the transport owns; no definition may
// set them.
func framingHeader(name string) bool {
	switch strings.ToLower(name) {
	case "host", "content-length", "content-type", "transfer-encoding", "connection",
		"te", "trailer", "upgrade", "keep-alive", "expect", "referer", "cookie":
		return true
	}
	return strings.HasPrefix(strings.ToLower(name), "proxy-") || strings.HasPrefix(strings.ToLower(name), "x-alloy-")
}

// forbiddenParamHeader is the §11.1 list for header parameters (plus the
// framing headers, and Referer, which is never sent).
func forbiddenParamHeader(name string) bool {
	return framingHeader(name) || strings.EqualFold(name, "Authorization")
}

// absoluteURL checks an https URL (http only for allowlisted hosts) without
// userinfo or fragment.
func (v *checker) absoluteURL(path, raw string, allowQuery bool) *url.URL {
	if len(raw) > maxURLLen {
		v.add(path, "must be at most %d characters", maxURLLen)
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		v.add(path, "must be an absolute https URL")
		return nil
	}
	ok := true
	switch u.Scheme {
	case "https":
	case "http":
		if !v.opts.allowHTTP(u.Hostname()) {
			v.add(path, "must use https (http only for hosts on the SSRF allowlist)")
			ok = false
		}
	default:
		v.add(path, "must be an absolute https URL")
		ok = false
	}
	if u.User != nil {
		v.add(path, "must not contain userinfo")
		ok = false
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		v.add(path, "must not contain a fragment")
		ok = false
	}
	if !allowQuery && (u.RawQuery != "" || u.ForceQuery) {
		v.add(path, "must not contain a query")
		ok = false
	}
	if !ok {
		return nil
	}
	return u
}

// headers checks the static headers of an mcp connector.
func (v *checker) headers(h map[string]patchbay.Secret) {
	for name, val := range h {
		p := joinPath("headers", name)
		if !validToken(name) {
			v.add(p, "must be a valid header name")
		} else if framingHeader(name) {
			v.add(p, "must not be %s", name)
		}
		if strings.ContainsFunc(val.Reveal(), isControlNotTab) {
			v.add(p, "value must not contain control characters")
		}
	}
}

func isControlNotTab(r rune) bool { return r != '\t' && isControl(r) }

// placeholders splits a template into literal text and {name} parts.
// ok is false for unbalanced or empty braces.
func placeholders(s string) (parts []tmplPart, ok bool) {
	for len(s) > 0 {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			parts = append(parts, tmplPart{lit: s})
			break
		}
		if s[open] == '}' {
			return nil, false
		}
		if open > 0 {
			parts = append(parts, tmplPart{lit: s[:open]})
		}
		end := strings.IndexAny(s[open+1:], "{}")
		if end <= 0 || s[open+1+end] != '}' {
			return nil, false
		}
		parts = append(parts, tmplPart{name: s[open+1 : open+1+end], param: true})
		s = s[open+2+end:]
	}
	return parts, true
}

// baseURL checks baseUrl: absolute https, no userinfo, query or fragment,
// placeholders only in the host and path and only for non-secret fields
// that every scheme requires.
func (v *checker) baseURL(raw string, auth []patchbay.AuthScheme, fields []map[string]*patchbay.AuthField) {
	const p = "baseUrl"
	parts, ok := placeholders(raw)
	if !ok {
		v.add(p, "has unbalanced or empty {placeholder} braces")
		return
	}
	var sb strings.Builder
	var names []string
	for _, part := range parts {
		if part.param {
			sb.WriteString("x")
			names = append(names, part.name)
			continue
		}
		sb.WriteString(part.lit)
	}
	n := len(v.problems)
	u := v.absoluteURL(p, sb.String(), false)
	if len(v.problems) > n || u == nil {
		return
	}
	// Locate each placeholder: it must sit inside the host or the path.
	schemeEnd := strings.Index(raw, "://") + 3
	hostEnd := len(raw)
	if i := strings.IndexByte(raw[schemeEnd:], '/'); i >= 0 {
		hostEnd = schemeEnd + i
	}
	hostRaw, pathRaw := raw[schemeEnd:hostEnd], raw[hostEnd:]
	if !validPathTemplate(pathRaw) {
		v.add(p, "path must contain only URL path characters and {placeholders}")
		return
	}
	if u.Scheme == "http" && strings.Contains(hostRaw, "{") {
		v.add(p, "an http base URL cannot have placeholders in the host")
		return
	}
	if strings.Contains(hostRaw, "{") && strings.HasPrefix(hostRaw, "[") {
		v.add(p, "placeholders may not be used in an IP literal")
		return
	}
	for _, name := range names {
		if len(auth) == 0 {
			v.add(p, "placeholder {%s} needs a non-secret credential field, but there is no auth scheme", name)
			continue
		}
		for i := range auth {
			f := fields[i][name]
			switch {
			case f == nil:
				v.add(p, "placeholder {%s} must name a field of every auth scheme (missing in auth[%d])", name, i)
			case f.IsSecret():
				v.add(p, "placeholder {%s} names a secret field (auth[%d]); only non-secret fields may be used", name, i)
			case !f.IsRequired():
				v.add(p, "placeholder {%s} names an optional field (auth[%d]); it must be required", name, i)
			}
		}
	}
	if v.out == nil {
		return
	}
	hostParts, _ := placeholders(hostRaw)
	pathParts, _ := placeholders(strings.TrimSuffix(pathRaw, "/"))
	v.out.base = baseTemplate{scheme: u.Scheme, host: hostParts, path: pathParts}
}
