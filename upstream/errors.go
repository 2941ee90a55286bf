package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// ErrUnauthorized is the cause (errors.Is) of the EUpstream error for an
// upstream HTTP 401, on which the runtime refreshes an OAuth credential once
// and calls again (§7.4, §13.5). It is connector.ErrUnauthorized.
var ErrUnauthorized = connector.ErrUnauthorized

// IsUnauthorized reports whether err is an upstream HTTP 401.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

var (
	errClosed     = errors.New("upstream: client closed")
	errCursorLoop = errors.New("upstream: tools/list cursors do not end")
)

// go-sdk reports some local conditions as JSON-RPC errors with these codes;
// they never come from the upstream.
const (
	codeRejectedByTransport = -32005
	codeClientClosing       = -32003
)

// failure maps the failure of a call to the contract's errors (§7.4). sent
// says whether the tools/call may have reached the upstream.
func (c *Client) failure(ctx context.Context, obs observed, err error, sent bool, secrets []string) error {
	cause := redactedError(err, secrets)
	var pe *patchbay.Error
	switch {
	case errors.Is(err, errClosed):
		return err
	case obs.redirect != 0 || errors.Is(err, errCrossOrigin):
		return patchbay.Errorf(patchbay.EUpstream, "Upstream redirect not followed").
			Reason("cross_origin_redirect").With("status", obs.redirect).Wrap(cause)
	case obs.tooLarge || errors.Is(err, errTooLarge):
		return patchbay.Errorf(patchbay.EUpstream, "Upstream response invalid").Reason("response_too_large").Wrap(cause)
	case errors.Is(obs.err, ssrf.ErrBlocked) || errors.Is(err, ssrf.ErrBlocked):
		// The message never names the address (§15).
		return patchbay.Errorf(patchbay.EUpstream, "Upstream destination not allowed").Reason("destination_blocked")
	case errors.As(obs.err, &pe) || errors.As(err, &pe):
		return pe // a verdict of the caller's client, already in contract terms
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(obs.err):
		return patchbay.Errorf(patchbay.EUpstreamTimeout, "Upstream timed out").
			With("timeoutSeconds", int((c.timeout+time.Second-1)/time.Second)).Wrap(cause)
	case ctx.Err() != nil:
		return ctx.Err() // the caller gave up
	case obs.status == http.StatusUnauthorized:
		return patchbay.Errorf(patchbay.EUpstream, "Upstream returned HTTP 401").
			With("status", http.StatusUnauthorized).Wrap(ErrUnauthorized)
	case obs.err != nil:
		if !sent || isDialError(obs.err) {
			return patchbay.Errorf(patchbay.EUpstream, "Upstream unreachable").Reason("upstream_unreachable").Wrap(cause)
		}
		return patchbay.Errorf(patchbay.EUpstream, "Upstream outcome unknown").Reason("outcome_unknown").Wrap(cause)
	}
	if rpc := upstreamRPCError(err); rpc != nil {
		e := patchbay.Errorf(patchbay.EUpstream, "Upstream returned a JSON-RPC error").With("rpcError", map[string]any{
			"code":    rpc.Code,
			"message": redact(rpc.Message, secrets),
		})
		if obs.status/100 != 2 && obs.status != 0 {
			e.With("status", obs.status)
		}
		return e.Wrap(cause)
	}
	if obs.status != 0 && obs.status/100 != 2 {
		e := patchbay.Errorf(patchbay.EUpstream, "Upstream returned HTTP %d", obs.status).With("status", obs.status)
		if s, ok := retryAfter(obs.header); ok {
			e.With("retryAfterSeconds", s)
		}
		return e.Wrap(cause)
	}
	return invalidResponse(cause)
}

func invalidResponse(cause error) error {
	return patchbay.Errorf(patchbay.EUpstream, "Upstream response invalid").Reason("invalid_response").Wrap(cause)
}

// unreachable is the error of a failed listing (§11.6).
func unreachable(obs observed, err error, secrets []string) error {
	e := patchbay.Errorf(patchbay.EInvalid, "Upstream MCP server unreachable").Reason("upstream_unreachable")
	if obs.status != 0 && obs.status/100 != 2 {
		e.With("status", obs.status)
	}
	return e.Wrap(redactedError(err, secrets))
}

// upstreamRPCError returns the JSON-RPC error that the upstream sent, if
// err carries one.
func upstreamRPCError(err error) *jsonrpc.Error {
	var found *jsonrpc.Error
	walk(err, func(e error) bool {
		//nolint:errorlint // walk unwraps; errors.As would stop at the first *jsonrpc.Error, even one the transport made up
		if w, ok := e.(*jsonrpc.Error); ok && w.Code != codeRejectedByTransport && w.Code != codeClientClosing {
			found = w
			return true
		}
		return false
	})
	return found
}

// walk visits err's tree depth first until visit returns true.
func walk(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch u := err.(type) { //nolint:errorlint // this is the unwrapping
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, visit) {
				return true
			}
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func retryAfter(h http.Header) (int, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// redactedError keeps only the redacted text of err: the SDK's messages may
// quote what the upstream sent back.
func redactedError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return errors.New(redact(err.Error(), secrets))
}

// secretSet returns the strings to redact, longest first, so that a header
// value ("Bearer abc") goes before the secret inside it ("abc"). A secret
// is also looked for as JSON escapes it inside a string.
func secretSet(values ...string) []string {
	out := make([]string, 0, len(values))
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, v := range values {
		add(v)
		if needsEscape(v) {
			for _, html := range []bool{false, true} {
				if b, err := marshalHTML(v, html); err == nil && len(b) >= 2 {
					add(string(b[1 : len(b)-1]))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&', c >= 0x80:
			return true
		}
	}
	return false
}

// minStaticSecret is the shortest static header value that is redacted
// from responses: short values (a team number) are identifiers rather than
// credentials, and replacing them would garble every matching number.
const minStaticSecret = 8

// callSecrets lists what a call must never echo: the credential's secrets,
// the values derived from them (a Basic token) and long static header values.
func callSecrets(static map[string]patchbay.Secret, auth, query []field, m *patchbay.CredentialMaterial) []string {
	vals := m.SecretValues()
	for _, f := range auth {
		vals = append(vals, f.value)
		if _, after, ok := strings.Cut(f.value, " "); ok {
			vals = append(vals, after) // the token of "Basic <token>"
		}
	}
	for _, f := range query {
		vals = append(vals, f.value)
	}
	return secretSet(append(vals, staticSecrets(static)...)...)
}

func staticSecrets(headers map[string]patchbay.Secret) []string {
	var vals []string
	for _, v := range headers {
		if len(v.Reveal()) >= minStaticSecret {
			vals = append(vals, v.Reveal())
		}
	}
	return vals
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactJSON replaces secrets in a JSON value; should that break the JSON
// (a secret that was a bare number), the text becomes a JSON string.
func redactJSON(v []byte, secrets []string) json.RawMessage {
	changed := false
	for _, sec := range secrets {
		if bytes.Contains(v, []byte(sec)) {
			v = bytes.ReplaceAll(v, []byte(sec), []byte("[REDACTED]"))
			changed = true
		}
	}
	if changed && !json.Valid(v) {
		if b, err := marshal(string(v)); err == nil {
			return b
		}
	}
	return v
}

// resultValue turns a tools/call result into the action's value (§11.6):
// structuredContent; else the single text item, as JSON if it parses, else
// as a string; else the single item; else the array of items.
func resultValue(res *mcp.CallToolResult, secrets []string) (json.RawMessage, error) {
	var v []byte
	var err error
	switch {
	case res.StructuredContent != nil:
		v, err = marshal(res.StructuredContent)
	case len(res.Content) == 0:
		v = []byte("null")
	case len(res.Content) == 1:
		if t, ok := res.Content[0].(*mcp.TextContent); ok {
			if txt := bytes.TrimSpace([]byte(t.Text)); len(txt) > 0 && json.Valid(txt) {
				v = txt
			} else {
				v, err = marshal(t.Text)
			}
		} else {
			v, err = marshal(res.Content[0])
		}
	default:
		v, err = marshal(res.Content)
	}
	if err != nil {
		return nil, err
	}
	return redactJSON(v, secrets), nil
}

// marshal encodes v without HTML escaping: the value is read by a model, not
// embedded in a page.
func marshal(v any) ([]byte, error) { return marshalHTML(v, false) }

func marshalHTML(v any, html bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
