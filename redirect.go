package patchbay

import (
	"net/url"
	"strings"
)

// ValidRedirectEntry checks one entry of an account's allowedRedirectUris
// (§13.3): an absolute https URI, or http on a loopback host, without
// fragment or userinfo.
func ValidRedirectEntry(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.Contains(s, "#") || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackName(u.Hostname())
	}
	return false
}

func isLoopbackName(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// RedirectAllowed reports whether uri may receive the browser after a flow
// (§13.3): the built-in done page, or an entry with the same scheme, host
// (case-insensitive), effective port and exact path; uri may add a query.
func RedirectAllowed(uri, publicURL string, entries []string) bool {
	if uri == publicURL+"/oauth/done" {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(uri, "#") || u.User != nil || u.Opaque != "" {
		return false
	}
	for _, e := range entries {
		eu, err := url.Parse(e)
		if err != nil {
			continue
		}
		if strings.EqualFold(u.Scheme, eu.Scheme) && strings.EqualFold(u.Hostname(), eu.Hostname()) &&
			EffectivePort(u) == EffectivePort(eu) && u.EscapedPath() == eu.EscapedPath() {
			return true
		}
	}
	return false
}

// SameOrigin reports whether a and b have the same scheme, host
// (case-insensitive) and effective port.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && EffectivePort(a) == EffectivePort(b)
}

// EffectivePort is u's port, or the scheme's default (443, 80).
func EffectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
