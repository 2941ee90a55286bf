package openapi

import (
	"strings"
	"unicode"

	"github.com/patchbay-mcp/patchbay"
)

// Limits of the definition format (§11.1) and of the import (§11.5).
const (
	maxOperations     = 1000
	maxConnectorIDLen = 48
	maxNameLen        = 100
	maxDescLen        = 2000
	maxActionDescLen  = 4000
	maxIDLen          = 64
	maxSchemaDepth    = 10
)

// actionID normalizes an operationId (§11.5): every character outside
// [A-Za-z0-9_] becomes _, runs of _ collapse, leading and trailing _ are
// trimmed, op_ is prefixed unless the result starts with a letter, and the
// result is cut to 64 characters.
func actionID(s string) string {
	id := underscore(s, false)
	if id == "" || !isLetter(id[0]) {
		id = "op_" + id
		id = strings.TrimRight(id, "_")
	}
	return cutID(id)
}

// methodPathID is the action id of an operation without operationId:
// GET /contacts/{id} -> get_contacts_id.
func methodPathID(method, path string) string {
	p := strings.NewReplacer("{", "", "}", "").Replace(path)
	return actionID(strings.ToLower(method) + "_" + p)
}

// resourceID derives a resource id from a tag or a path segment (§11.5):
// lower-case, runs outside [a-z0-9] become _, trimmed, r_ prefixed when empty
// or not starting with [a-z0-9], cut to 64 and trimmed again.
func resourceID(s string) string {
	id := underscore(strings.ToLower(s), true)
	if id == "" || !isLowerAlnum(id[0]) {
		id = strings.TrimRight("r_"+id, "_")
	}
	return cutID(id)
}

// connectorID is the slug of §5.2 without the random suffix, cut to 48.
func connectorID(title string) string { return patchbay.SlugN(title, maxConnectorIDLen) }

// underscore maps every run of characters outside the allowed set to one _
// and trims _ at both ends. lower selects [a-z0-9] (resource ids) instead of
// [A-Za-z0-9] (action ids); an existing _ counts as outside, so runs collapse.
func underscore(s string, lower bool) string {
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := isLowerAlnum(c) || !lower && c >= 'A' && c <= 'Z'
		if !ok {
			pending = true
			continue
		}
		if pending && b.Len() > 0 {
			b.WriteByte('_')
		}
		pending = false
		b.WriteByte(c)
	}
	return b.String()
}

// cutID cuts an ASCII id to 64 characters; a _ left at the end is trimmed.
func cutID(id string) string {
	if len(id) > maxIDLen {
		id = strings.TrimRight(id[:maxIDLen], "_")
	}
	return id
}

// dedupe returns id, or id with the first free suffix _2, _3, ... when id is
// taken case-insensitively; it records the result in seen (lower-case keys).
func dedupe(id string, seen map[string]bool) string {
	out := id
	for n := 2; seen[strings.ToLower(out)]; n++ {
		suffix := "_" + itoa(n)
		base := id
		if len(base)+len(suffix) > maxIDLen {
			base = strings.TrimRight(base[:maxIDLen-len(suffix)], "_")
		}
		out = base + suffix
	}
	seen[strings.ToLower(out)] = true
	return out
}

// firstSegment is the first literal segment of a path: /contacts/{id} ->
// contacts; "" when the path starts with a placeholder or is /.
func firstSegment(path string) string {
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		if strings.Contains(seg, "{") {
			return ""
		}
		return seg
	}
	return ""
}

// cut shortens s to at most n runes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// oneLine collapses whitespace runs (newlines included) to single spaces, for
// names, which are shown in one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

func isLetter(c byte) bool     { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
