package connector

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbay-mcp/patchbay"
)

// prepared is a bound upstream request (§11.3), ready to be sent (and sent
// again on a retry).
type prepared struct {
	method      string
	url         *url.URL
	header      http.Header
	body        []byte // nil: no body
	credentials bool   // carries credential material (§15 redirect rule)
}

// bind builds the upstream request of a REST action from validated
// arguments and the credential material (nil for connectors without auth).
func (c *Compiled) bind(ca *compiledAction, a *args, m *patchbay.CredentialMaterial, userAgent string) (*prepared, error) {
	var errs []ParamError
	var scheme *compiledScheme
	if m != nil {
		scheme = c.schemes[m.AuthType]
		if scheme == nil {
			return nil, fmt.Errorf("connector: credential type %q is not a scheme of connector %s", m.AuthType, c.conn.ID)
		}
	}

	// Path: the base path, then the action path with each placeholder as
	// one encoded segment.
	var path strings.Builder
	path.Grow(64)
	for _, p := range c.base.path {
		if !p.param {
			path.WriteString(p.lit)
			continue
		}
		v, err := configValue(m, scheme, p.name)
		if err != nil {
			return nil, err
		}
		writeSegment(&path, v)
	}
	for _, p := range ca.path {
		if !p.param {
			path.WriteString(p.lit)
			continue
		}
		mem := a.member(p.name)
		if mem == nil {
			errs = append(errs, ParamError{Path: "/" + escapePointer(p.name), Message: "is required"})
			continue
		}
		s, ok := scalarText(mem.val)
		switch {
		case !ok:
			errs = append(errs, ParamError{Path: "/" + escapePointer(p.name), Message: "path parameters must be scalars"})
		case s == "":
			errs = append(errs, ParamError{Path: "/" + escapePointer(p.name), Message: "must not be empty"})
		default:
			writeSegment(&path, s)
		}
	}

	host := ""
	if len(c.base.host) == 1 && !c.base.host[0].param {
		host = c.base.host[0].lit
	} else {
		var hb strings.Builder
		for _, p := range c.base.host {
			if !p.param {
				hb.WriteString(p.lit)
				continue
			}
			v, err := configValue(m, scheme, p.name)
			if err != nil {
				return nil, err
			}
			if !hostLabel(v) {
				return nil, credentialFieldError(p.name)
			}
			hb.WriteString(v)
		}
		host = hb.String()
	}

	h := make(http.Header, 6)
	h["Accept"] = []string{"application/json"}
	h["User-Agent"] = []string{userAgent}

	var query []byte
	var body []byte
	var form []byte
	bodyParams := false
	for i := range a.members {
		mem := &a.members[i]
		b := ca.props[mem.key]
		if b == nil {
			continue
		}
		ptr := "/" + escapePointer(mem.key)
		switch b.in {
		case inQuery:
			var ok bool
			if query, ok = appendQueryValue(query, b.wireKey, mem.val); !ok {
				errs = append(errs, ParamError{Path: ptr, Message: "query parameters must be scalars or arrays of scalars"})
			}
		case inHeader:
			if mem.val == nil {
				continue
			}
			s, ok := scalarText(mem.val)
			if !ok || strings.ContainsFunc(s, isControlNotTab) {
				errs = append(errs, ParamError{Path: ptr, Message: "header parameters must be strings without control characters"})
				continue
			}
			h[b.wireKey] = []string{s}
		case inBody:
			bodyParams = true
			switch {
			case ca.form && b.bodyRoot:
				obj, ok := mem.val.(map[string]any)
				if !ok {
					errs = append(errs, ParamError{Path: ptr, Message: "a form body must be an object"})
					continue
				}
				keys := make([]string, 0, len(obj))
				for k := range obj {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					if form, ok = appendQueryValue(form, url.QueryEscape(k), obj[k]); !ok {
						errs = append(errs, ParamError{Path: ptr + "/" + escapePointer(k), Message: "form values must be scalars or arrays of scalars"})
					}
				}
			case ca.form:
				var ok bool
				if form, ok = appendQueryValue(form, b.wireKey, mem.val); !ok {
					errs = append(errs, ParamError{Path: ptr, Message: "form values must be scalars or arrays of scalars"})
				}
			case b.bodyRoot:
				body = append(body[:0], mem.raw...)
			default:
				if len(body) == 0 {
					body = append(body, '{')
				} else {
					body = append(body, ',')
				}
				body = append(body, b.wireKey...)
				body = append(body, mem.raw...)
			}
		}
	}
	if len(errs) > 0 {
		return nil, invalidParams(errs)
	}
	switch {
	case !bodyParams:
		body = nil
	case ca.form:
		body = form
		if body == nil {
			body = []byte{}
		}
		h["Content-Type"] = []string{"application/x-www-form-urlencoded"}
	default:
		if ca.bodyRoot == nil {
			body = append(body, '}')
		}
		h["Content-Type"] = []string{"application/json"}
	}

	p := &prepared{method: ca.method, header: h, body: body}
	if m != nil {
		var err error
		if query, err = applyAuth(p, scheme, m, query); err != nil {
			return nil, err
		}
	}
	escaped := path.String()
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("connector: bad path template: %w", err)
	}
	p.url = &url.URL{Scheme: c.base.scheme, Host: host, Path: decoded, RawPath: escaped, RawQuery: string(query)}
	return p, nil
}

// member returns the top-level argument named key, or nil.
func (a *args) member(key string) *rootMember {
	for i := range a.members {
		if a.members[i].key == key {
			return &a.members[i]
		}
	}
	return nil
}

// applyAuth adds the scheme's credential material (§11.1 table).
func applyAuth(p *prepared, s *compiledScheme, m *patchbay.CredentialMaterial, query []byte) ([]byte, error) {
	need := func(name string) (string, error) {
		v := m.Secrets[name].Reveal()
		if v == "" {
			return "", fmt.Errorf("connector: %s credential material lacks %s", m.AuthType, name)
		}
		if strings.ContainsFunc(v, isControlNotTab) {
			return "", fmt.Errorf("connector: %s credential material: %s contains control characters", m.AuthType, name)
		}
		return v, nil
	}
	switch m.AuthType {
	case patchbay.AuthOAuth2:
		tok := m.AccessToken.Reveal()
		if tok == "" || strings.ContainsFunc(tok, isSpaceOrControl) {
			return nil, fmt.Errorf("connector: oauth2 credential material lacks a usable access token")
		}
		p.header["Authorization"] = []string{"Bearer " + tok}
	case patchbay.AuthBearer:
		tok, err := need("token")
		if err != nil {
			return nil, err
		}
		p.header["Authorization"] = []string{"Bearer " + tok}
	case patchbay.AuthBasic:
		user, err := need("username")
		if err != nil {
			return nil, err
		}
		pass, err := need("password")
		if err != nil {
			return nil, err
		}
		p.header["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	case patchbay.AuthAPIKey:
		key, err := need("apiKey")
		if err != nil {
			return nil, err
		}
		if s.header != "" {
			p.header[s.header] = []string{s.scheme.Prefix + key}
		} else {
			if len(query) > 0 {
				query = append(query, '&')
			}
			query = append(query, s.query...)
			query = append(query, '=')
			query = append(query, url.QueryEscape(key)...)
		}
	default:
		return nil, fmt.Errorf("connector: unknown credential type %q", m.AuthType)
	}
	p.credentials = true
	return query, nil
}

// configValue returns a base URL placeholder's value from the credential's
// non-secret config, checked against the field's pattern and enum.
func configValue(m *patchbay.CredentialMaterial, s *compiledScheme, name string) (string, error) {
	if m == nil || s == nil {
		return "", credentialFieldError(name)
	}
	v := m.Config[name]
	if v == "" || !s.fields[name].allows(v) {
		return "", credentialFieldError(name)
	}
	return v, nil
}

func credentialFieldError(name string) *patchbay.Error {
	return patchbay.Errorf(patchbay.EInvalid, "Credential field %q is missing or invalid", name).
		Field(name).Reason("invalid_credential_field")
}

// hostLabel: a host placeholder takes one DNS label, so that a value can
// neither leave the host part nor add labels.
func hostLabel(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// writeSegment percent-encodes s as one path segment: everything but the
// RFC 3986 unreserved characters is encoded (so "/" cannot add segments),
// and the dot segments "." and ".." are encoded too, so that they cannot
// climb out of the action's path.
func writeSegment(sb *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	if s == "." || s == ".." {
		sb.WriteString(strings.Repeat("%2E", len(s)))
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&0xf])
	}
}

// scalarText is a scalar's wire text (§11.3): strings unquoted, numbers as
// their JSON text, true/false.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// appendQueryValue appends name=value, or one pair per item of an array of
// scalars. null is left out.
func appendQueryValue(dst []byte, name string, v any) ([]byte, bool) {
	add := func(s string) {
		if len(dst) > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, name...)
		dst = append(dst, '=')
		dst = append(dst, url.QueryEscape(s)...)
	}
	switch x := v.(type) {
	case nil:
		return dst, true
	case []any:
		for _, e := range x {
			if e == nil {
				continue
			}
			s, ok := scalarText(e)
			if !ok {
				return dst, false
			}
			add(s)
		}
		return dst, true
	}
	s, ok := scalarText(v)
	if !ok {
		return dst, false
	}
	add(s)
	return dst, true
}
