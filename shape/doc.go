// Package shape turns an upstream JSON response into the output of an action
// tool call: it finds the list, truncates or replaces it by the thresholds of
// the API contract (§10.1, §10.2), and applies the general limits (§10.3) to
// every shaped output and to the body of upstream errors (§7.4).
//
// It works directly on JSON bytes with a small hand-written scanner instead of
// decoding into maps: object member order must survive as received, and this
// runs on every tools/call, so a shaped response costs one validation pass,
// one output pass and usually one allocation. Output is compact, without HTML
// escaping, and its strings are encoded exactly as encoding/json encodes them
// with SetEscapeHTML(false).
package shape
