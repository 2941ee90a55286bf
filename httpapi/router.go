package httpapi

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// router matches paths exactly and case-sensitively (§2): no cleaning, no
// redirects, a trailing slash is another path. A known path with another
// method gets 405 with Allow.
type router struct {
	routes []*route
}

type route struct {
	pattern  string
	segments []string // literal, or "{name}"
	methods  map[string]http.Handler
}

func (rt *router) handle(method, pattern string, h http.Handler) {
	for _, r := range rt.routes {
		if r.pattern == pattern {
			r.methods[method] = h
			return
		}
	}
	rt.routes = append(rt.routes, &route{pattern: pattern, segments: strings.Split(strings.TrimPrefix(pattern, "/"), "/"),
		methods: map[string]http.Handler{method: h}})
}

// match returns the route for the escaped path and fills r's path values.
func (rt *router) match(r *http.Request) *route {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
next:
	for _, ro := range rt.routes {
		if len(ro.segments) != len(parts) {
			continue
		}
		var vals [][2]string
		for i, seg := range ro.segments {
			if strings.HasPrefix(seg, "{") {
				v, err := url.PathUnescape(parts[i])
				if err != nil || v == "" {
					continue next
				}
				vals = append(vals, [2]string{seg[1 : len(seg)-1], v})
				continue
			}
			if seg != parts[i] {
				continue next
			}
		}
		for _, kv := range vals {
			r.SetPathValue(kv[0], kv[1])
		}
		return ro
	}
	return nil
}

func (ro *route) allow() string {
	ms := make([]string, 0, len(ro.methods))
	for m := range ro.methods {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return strings.Join(ms, ", ")
}
