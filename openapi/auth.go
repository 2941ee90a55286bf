package openapi

import (
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/patchbay-mcp/patchbay"
)

// auth maps components.securitySchemes in document order (§11.5). A
// definition has at most one scheme per type, so a later scheme of a type
// already taken is skipped with a warning.
func (m *mapper) auth() []patchbay.AuthScheme {
	if m.doc.Components == nil || len(m.doc.Components.SecuritySchemes) == 0 {
		return nil
	}
	schemes := m.doc.Components.SecuritySchemes
	names := sortedKeys(schemes)
	slices.SortStableFunc(names, func(a, b string) int {
		return compareOrigin(schemeOrigin(schemes[a]), schemeOrigin(schemes[b]))
	})
	var out []patchbay.AuthScheme
	taken := make(map[string]string)
	for _, name := range names {
		ref := schemes[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		a, ok := m.scheme(name, ref.Value)
		if !ok {
			continue
		}
		if prev, dup := taken[a.Type]; dup {
			m.warnf("security scheme %s skipped: the connector already has the %s scheme %s", name, a.Type, prev)
			continue
		}
		taken[a.Type] = name
		if a.Type == patchbay.AuthAPIKey {
			m.apiKeys = append(m.apiKeys, a)
		}
		out = append(out, a)
	}
	return out
}

func schemeOrigin(ref *openapi3.SecuritySchemeRef) *openapi3.Origin {
	if ref == nil {
		return nil
	}
	if ref.Origin != nil {
		return ref.Origin
	}
	if ref.Value != nil {
		return ref.Value.Origin
	}
	return nil
}

// scheme maps one security scheme; ok is false when it was skipped.
func (m *mapper) scheme(name string, s *openapi3.SecurityScheme) (patchbay.AuthScheme, bool) {
	switch s.Type {
	case "apiKey":
		switch s.In {
		case "header", "query":
			return patchbay.AuthScheme{Type: patchbay.AuthAPIKey, In: s.In, Name: s.Name}, true
		}
		m.warnf("security scheme %s skipped: apiKey in %s is not supported", name, cmpOr(s.In, "an unknown location"))
	case "http":
		switch strings.ToLower(s.Scheme) {
		case "bearer":
			return patchbay.AuthScheme{Type: patchbay.AuthBearer}, true
		case "basic":
			return patchbay.AuthScheme{Type: patchbay.AuthBasic}, true
		}
		m.warnf("security scheme %s skipped: http scheme %s is not supported", name, cmpOr(s.Scheme, "(none)"))
	case "oauth2":
		return m.oauth2(name, s.Flows)
	default:
		m.warnf("security scheme %s skipped: type %s is not supported", name, cmpOr(s.Type, "(none)"))
	}
	return patchbay.AuthScheme{}, false
}

// oauth2 maps the authorizationCode flow; the other flows need no user in
// the loop (clientCredentials, password) or no token endpoint (implicit), so
// they are reported.
func (m *mapper) oauth2(name string, flows *openapi3.OAuthFlows) (patchbay.AuthScheme, bool) {
	if flows == nil {
		m.warnf("security scheme %s skipped: no flows", name)
		return patchbay.AuthScheme{}, false
	}
	for _, f := range []struct {
		name string
		flow *openapi3.OAuthFlow
	}{{"implicit", flows.Implicit}, {"password", flows.Password}, {"clientCredentials", flows.ClientCredentials}} {
		if f.flow != nil {
			m.warnf("security scheme %s: flow %s skipped: only authorizationCode is supported", name, f.name)
		}
	}
	ac := flows.AuthorizationCode
	if ac == nil {
		m.warnf("security scheme %s skipped: no authorizationCode flow", name)
		return patchbay.AuthScheme{}, false
	}
	a := patchbay.AuthScheme{
		Type:             patchbay.AuthOAuth2,
		AuthorizationURL: m.absolute(ac.AuthorizationURL),
		TokenURL:         m.absolute(ac.TokenURL),
	}
	if len(ac.Scopes) > 0 {
		a.Scopes = sortedKeys(ac.Scopes)
	}
	return a, true
}

// absolute resolves a relative OAuth URL against the base URL, which is what
// OpenAPI 3.1 says relative URLs in a document are relative to.
func (m *mapper) absolute(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() {
		return raw
	}
	base, err := url.Parse(m.base)
	if err != nil || !base.IsAbs() {
		return raw
	}
	return base.ResolveReference(u).String()
}
