package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// ErrBlocked is wrapped by every refusal of this package. Callers test for it
// with errors.Is, which also sees through *url.Error and *net.OpError.
var ErrBlocked = errors.New("destination not allowed")

// MaxRedirects is the number of redirects Client follows (§15).
const MaxRedirects = 3

// DefaultDialTimeout bounds one connection attempt when Options.DialTimeout
// is zero. The whole upstream call has its own, longer budget (§17.4).
const DefaultDialTimeout = 10 * time.Second

// Resolver looks up the addresses of a host. *net.Resolver satisfies it;
// tests inject fakes so that no real DNS is queried.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configures a Guard. The zero value (or nil) is the default policy
// with an empty allowlist.
type Options struct {
	// Allow is the allowlist (--ssrf-allow). Each element may itself hold
	// comma-separated entries. An entry is a CIDR or IP address (matched on
	// the resolved address, overriding the deny list) or a host name (exact,
	// case-insensitive, matched before resolution; such a host skips the
	// name and address checks entirely). Allowlisted destinations may use
	// http.
	Allow []string

	// Resolver resolves host names at dial time. nil: net.DefaultResolver.
	Resolver Resolver

	// DialTimeout bounds each connection attempt. 0: DefaultDialTimeout.
	DialTimeout time.Duration

	// Dial connects to an address the guard has already checked: always an
	// "ip:port", never a name, so it cannot re-resolve. nil: a net.Dialer
	// with DialTimeout. Tests inject it to observe which address is dialed
	// without leaving loopback.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Guard applies the SSRF policy. It is safe for concurrent use.
type Guard struct {
	names     map[string]struct{} // allowlisted host names, canonical form
	prefixes  []netip.Prefix      // allowlisted networks
	resolver  Resolver
	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	transport *http.Transport
}

// New returns a Guard. It fails with EInvalid when an allowlist entry is
// neither a CIDR, an IP address nor a plausible host name.
func New(opts *Options) (*Guard, error) {
	if opts == nil {
		opts = &Options{}
	}
	g := &Guard{names: make(map[string]struct{}), resolver: opts.Resolver, dial: opts.Dial}
	for _, list := range opts.Allow {
		for entry := range strings.SplitSeq(list, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			if err := g.allow(entry); err != nil {
				return nil, err
			}
		}
	}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.dial == nil {
		timeout := opts.DialTimeout
		if timeout <= 0 {
			timeout = DefaultDialTimeout
		}
		d := &net.Dialer{Timeout: timeout}
		g.dial = d.DialContext
	}
	g.transport = &http.Transport{
		Proxy:                 nil, // proxy environment variables are ignored (§15)
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true, // a custom DialContext would otherwise turn HTTP/2 off
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return g, nil
}

func (g *Guard) allow(entry string) error {
	invalid := func() error {
		return patchbay.Errorf(patchbay.EInvalid, "invalid SSRF allowlist entry %q: want a host name, an IP address or a CIDR", entry).Field("ssrfAllow")
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return invalid()
		}
		g.prefixes = append(g.prefixes, p.Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(entry); err == nil {
		if ip.Zone() != "" {
			return invalid()
		}
		g.prefixes = append(g.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	h := canonicalHost(entry)
	if !validName(h) || numericHost(h) {
		return invalid()
	}
	g.names[h] = struct{}{}
	return nil
}

// IsDenied reports whether the guard refuses ip: the package-level deny list,
// unless an allowlisted CIDR contains ip.
func (g *Guard) IsDenied(ip netip.Addr) bool {
	return !g.allowedIP(ip) && IsDenied(ip)
}

func (g *Guard) allowedIP(ip netip.Addr) bool {
	ip = ip.WithZone("") // netip.Prefix.Contains is false for zoned addresses
	for _, p := range g.prefixes {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// CheckURL checks a URL without resolving it: the scheme is https (http only
// for an allowlisted host name or an IP literal in an allowlisted CIDR), there
// is no userinfo, the host is not a denied name, an IP literal is not denied,
// and IPv4 literals are canonical dotted decimal (2130706433, 0177.0.0.1,
// 0x7f.1 and 127.1 are refused, because some resolvers read them as
// 127.0.0.1). Use it when a URL is saved and before each request; the address
// a name resolves to is checked by DialContext.
//
// URLs with {field} placeholders (a connector baseUrl) do not parse; callers
// substitute a sample label before checking.
func (g *Guard) CheckURL(u *url.URL) error {
	if u == nil {
		return blocked("missing URL")
	}
	if u.User != nil {
		return blocked("URL must not contain userinfo")
	}
	if u.Opaque != "" {
		return blocked("URL must be absolute with a host")
	}
	host := u.Hostname()
	if host == "" {
		return blocked("URL has no host")
	}
	allowlisted, err := g.checkHost(host)
	if err != nil {
		return err
	}
	switch {
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case strings.EqualFold(u.Scheme, "http") && allowlisted:
		return nil
	case strings.EqualFold(u.Scheme, "http"):
		return blocked("http is only allowed for allowlisted hosts")
	}
	return blocked("scheme must be https")
}

// checkHost applies every check that needs no DNS. It reports whether the
// host is allowlisted (by name, or as an IP literal in an allowed CIDR).
func (g *Guard) checkHost(host string) (allowlisted bool, err error) {
	h := canonicalHost(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		if g.allowedIP(ip) {
			return true, nil
		}
		if IsDenied(ip) {
			return false, blocked("address not allowed")
		}
		return false, nil
	}
	if numericHost(h) {
		return false, blocked("non-canonical IPv4 literal")
	}
	if !validName(h) {
		return false, blocked("invalid host name")
	}
	if _, ok := g.names[h]; ok {
		return true, nil
	}
	if deniedName(h) {
		return false, blocked("host name not allowed")
	}
	return false, nil
}

// DialContext is a DialContext for http.Transport. It applies the host checks
// of CheckURL, resolves a name once, refuses the connection if ANY resolved
// address is denied (so a name that answers with one public and one private
// address, or that rebinds to a private address after an earlier check, is
// refused), and then dials only those checked addresses, in resolver order.
// Hosts allowlisted by name skip the address check.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: blocked("network not allowed")}
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "invalid port", Addr: addr}}
	}
	allowlisted, err := g.checkHost(host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}

	var ips []netip.Addr
	h := canonicalHost(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else {
		answers, err := g.resolver.LookupIPAddr(ctx, h)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		ips = make([]netip.Addr, 0, len(answers))
		for _, a := range answers {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				return nil, &net.OpError{Op: "dial", Net: network, Err: blocked("host resolves to an invalid address")}
			}
			ips = append(ips, ip.Unmap().WithZone(a.Zone))
		}
		if !allowlisted {
			for _, ip := range ips {
				if g.IsDenied(ip) {
					return nil, &net.OpError{Op: "dial", Net: network, Err: blocked("host resolves to a denied address")}
				}
			}
		}
	}

	var firstErr error
	for _, ip := range ips {
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		conn, err := g.dial(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "no suitable address found", Addr: h}}
	}
	return nil, firstErr
}

// Transport returns the guard's shared, pooled transport: every connection
// goes through DialContext and proxy settings are ignored. Do not modify it;
// Clone it to change settings (the clone keeps the guarded dialer).
func (g *Guard) Transport() *http.Transport { return g.transport }

// Client returns a client on the shared transport whose CheckRedirect is
// g.CheckRedirect. It does not strip credentials on cross-origin redirects:
// a caller that sends credential material (Authorization, an API key,
// connector headers, OAuth client credentials) MUST replace CheckRedirect
// with its own rule that refuses cross-origin redirects (§15) and calls
// g.CheckRedirect for the rest.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: g.transport, Timeout: timeout, CheckRedirect: g.CheckRedirect}
}

// CheckRedirect allows at most MaxRedirects redirects and re-checks each
// target with CheckURL. Its signature is that of http.Client.CheckRedirect.
func (g *Guard) CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	return g.CheckURL(req.URL)
}

func blocked(reason string) error { return fmt.Errorf("%w: %s", ErrBlocked, reason) }

// canonicalHost lower-cases ASCII and drops trailing dots, so "LOCALHOST." and
// "localhost" are judged alike.
func canonicalHost(h string) string {
	return strings.ToLower(strings.TrimRight(h, "."))
}

// numericHost reports whether the last label of h is a number (decimal, or
// hex with 0x). Such a host is an IPv4 address to WHATWG URL parsers and
// inet_aton, so anything that did not parse as canonical dotted decimal is
// refused rather than handed to a resolver.
func numericHost(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		for i := 2; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validName accepts ASCII host names only. Non-ASCII names would be mapped by
// IDNA (fullwidth digits and dots become ASCII ones) after this check, so they
// are refused; internationalized hosts must be written in punycode.
func validName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func deniedName(h string) bool {
	switch h {
	case "localhost", "metadata", "metadata.google.internal", "internal":
		return true
	}
	return strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".internal")
}
