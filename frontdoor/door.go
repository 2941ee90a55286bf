package frontdoor

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures the front door.
type Options struct {
	PublicURL      *url.URL
	AllowedHosts   []string // extra Host names (§17.3)
	AllowedOrigins []string // origins that get CORS (§17.3)
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	Registry       prometheus.Registerer // nil: no metrics
	Now            func() time.Time
}

// Door wraps the whole HTTP handler tree.
type Door struct {
	next        http.Handler
	publicHost  string
	publicOrig  string
	loopbackPub bool
	hosts       map[string]bool
	origins     map[string]bool
	proxies     []netip.Prefix
	log         *slog.Logger
	now         func() time.Time
	requests    *prometheus.CounterVec
	durations   *prometheus.HistogramVec
}

// New returns the front door around next.
func New(next http.Handler, opts *Options) (*Door, error) {
	if opts == nil || opts.PublicURL == nil {
		return nil, fmt.Errorf("frontdoor: a public URL is required")
	}
	d := &Door{
		next:       next,
		publicHost: strings.ToLower(opts.PublicURL.Hostname()),
		publicOrig: Origin(opts.PublicURL),
		hosts:      map[string]bool{},
		origins:    map[string]bool{},
		proxies:    opts.TrustedProxies,
		log:        opts.Logger,
		now:        opts.Now,
	}
	d.loopbackPub = isLoopbackHost(d.publicHost)
	for _, h := range opts.AllowedHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			d.hosts[h] = true
		}
	}
	for _, o := range opts.AllowedOrigins {
		if o = strings.TrimSpace(o); o != "" {
			d.origins[strings.ToLower(o)] = true
		}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if opts.Registry != nil {
		d.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_http_requests_total",
			Help: "HTTP requests by face, route pattern and status code."}, []string{"face", "route", "code"})
		d.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "patchbay_http_request_duration_seconds",
			Help: "HTTP request latency by face and route pattern.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"face", "route"})
		if err := opts.Registry.Register(d.requests); err != nil {
			return nil, err
		}
		if err := opts.Registry.Register(d.durations); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Origin returns scheme://host[:port] of u in lower case, with a default
// port omitted.
func Origin(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if port == "" || u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		return strings.ToLower(u.Scheme) + "://" + host
	}
	return strings.ToLower(u.Scheme) + "://" + host + ":" + port
}

func isLoopbackHost(h string) bool {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func faceOf(path string) string {
	switch {
	case path == "/mcp" || strings.HasPrefix(path, "/mcp/"):
		return "mcp"
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		return "api"
	case strings.HasPrefix(path, "/oauth/"):
		return "oauth"
	}
	return "ops"
}

func (d *Door) hostAllowed(host string) bool {
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return h == d.publicHost || h == "localhost" || h == "127.0.0.1" || h == "::1" || d.hosts[h]
}

func (d *Door) originAllowed(origin string) bool {
	o := strings.ToLower(origin)
	if o == d.publicOrig || d.origins[o] {
		return true
	}
	if d.loopbackPub {
		if u, err := url.Parse(o); err == nil && u.Scheme == "http" && u.Path == "" && u.User == nil {
			switch u.Hostname() {
			case "localhost", "127.0.0.1", "::1":
				return true
			}
		}
	}
	return false
}

const corsAllowHeaders = "Authorization, Content-Type, Accept, MCP-Protocol-Version, x-alloy-userid, x-alloy-user-token, x-credential-id, " +
	"x-redirect-uri, x-mcp-server-id, x-alloy-timestamp, x-alloy-nonce, x-alloy-signature, X-Request-Id"

func (d *Door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := d.now()
	info := newInfo(r)
	info.Face = faceOf(r.URL.Path)
	info.ClientIP = d.clientIP(r)
	r = r.WithContext(contextWith(r.Context(), info))
	w.Header().Set("X-Request-Id", info.RequestID)
	rec := &recorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			d.log.ErrorContext(r.Context(), "panic", "request_id", info.RequestID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				WriteError(rec, r, nil, fmt.Errorf("panic"))
			}
		}
		d.finish(r, rec, info, start)
	}()

	if info.Face == "mcp" || info.Face == "api" {
		if !d.hostAllowed(r.Host) {
			d.deny(rec, r, info.Face, "host_not_allowed", "Forbidden: invalid Host header")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !d.originAllowed(origin) {
				d.deny(rec, r, info.Face, "origin_not_allowed", "Forbidden: Origin not allowed")
				return
			}
			if d.origins[strings.ToLower(origin)] {
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					d.preflight(rec, origin, info.Face)
					return
				}
				h := rec.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Expose-Headers", "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Cache-Hit")
			}
		}
	}
	if !cleanPath(r.URL.Path) {
		// Paths match exactly (§2): http.ServeMux would redirect a path with
		// dot segments or doubled slashes to its cleaned form, a known route.
		WriteError(rec, r, nil, notFound())
		return
	}
	d.next.ServeHTTP(rec, r)
}

// cleanPath reports whether p is in the form http.ServeMux leaves alone: no
// "." or ".." segments and no empty segment except a trailing slash.
func cleanPath(p string) bool {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np == p
}

func (d *Door) preflight(w http.ResponseWriter, origin, face string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if face == "mcp" {
		h.Set("Access-Control-Allow-Methods", "POST")
	} else {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	}
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	h.Add("Vary", "Origin")
	w.WriteHeader(http.StatusNoContent)
}

func (d *Door) deny(w http.ResponseWriter, r *http.Request, face, reason, rpcMessage string) {
	if face == "mcp" {
		WriteRPCError(w, http.StatusForbidden, -32000, rpcMessage)
		return
	}
	msg := "Host not allowed"
	if reason == "origin_not_allowed" {
		msg = "Origin not allowed"
	}
	WriteError(w, r, nil, forbidden(msg, reason))
}

// clientIP is the peer address, or the first untrusted X-Forwarded-For hop
// (from the right) when the peer is a trusted proxy (§16).
func (d *Door) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !d.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host
		}
		if !d.trusted(ip) {
			return ip.String()
		}
	}
	return host
}

func (d *Door) trusted(ip netip.Addr) bool {
	for _, p := range d.proxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func (d *Door) finish(r *http.Request, rec *recorder, info *Info, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	route, account, server := info.snapshot()
	if route == "" {
		route = "unmatched"
	}
	elapsed := d.now().Sub(start)
	if d.requests != nil {
		d.requests.WithLabelValues(info.Face, route, strconv.Itoa(status)).Inc()
		d.durations.WithLabelValues(info.Face, route).Observe(elapsed.Seconds())
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	d.log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", info.RequestID),
		slog.String("account_id", account),
		slog.String("server_id", server),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", RedactPath(r.URL.EscapedPath())),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("client_ip", info.ClientIP),
	)
}

// RedactPath replaces the access token of a token URL, and flow and form IDs
// of OAuth links, with [REDACTED] (§17.2).
func RedactPath(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) >= 4 && parts[1] == "mcp" && parts[3] != "" {
		parts[3] = "[REDACTED]"
		return strings.Join(parts, "/")
	}
	if len(parts) >= 4 && parts[1] == "oauth" && (parts[2] == "start" || parts[2] == "form") {
		parts[3] = "[REDACTED]"
		return strings.Join(parts, "/")
	}
	return p
}

// recorder captures the status for logs and metrics while passing Flush and
// Unwrap through (SSE responses need them).
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
