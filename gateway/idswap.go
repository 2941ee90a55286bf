package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// go-sdk decodes a numeric JSON-RPC id through float64, so an integer id
// beyond ±2^53 (or written as -0) would come back changed: 9223372036854775807
// is answered as -9223372036854775808. §6.2 step 6 requires the id to be
// echoed unchanged, so such a request reaches the SDK with the id 0, and
// the one event the SDK writes gets the original id back.

// maxExactID is the largest integer every float64 holds exactly.
const maxExactID = 1<<53 - 1

// sdkEventPrefix is how go-sdk starts the SSE event of a response whose id
// is 0 (wireCombined: jsonrpc, then id).
var sdkEventPrefix = []byte(`event: message` + "\n" + `data: {"jsonrpc":"2.0","id":0,`)

// sdkSafeID returns the body to hand to the SDK and, when the id had to be
// replaced, the original id to restore in the answer (nil otherwise).
func sdkSafeID(body []byte, id json.RawMessage) ([]byte, json.RawMessage) {
	if len(id) == 0 || id[0] == '"' {
		return body, nil
	}
	if n, err := strconv.ParseInt(string(id), 10, 64); err == nil && n >= -maxExactID && n <= maxExactID &&
		strconv.FormatInt(n, 10) == string(id) {
		return body, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body, nil
	}
	m["id"] = json.RawMessage(`0`)
	out, err := json.Marshal(m)
	if err != nil {
		return body, nil
	}
	return out, id
}

// restoreID puts the original id back into the SDK's event.
func restoreID(b []byte, id json.RawMessage) []byte {
	if !bytes.HasPrefix(b, sdkEventPrefix) {
		return b
	}
	head := len(sdkEventPrefix) - len(`0,`)
	out := make([]byte, 0, len(b)+len(id))
	out = append(out, b[:head]...)
	out = append(out, id...)
	return append(out, b[head+1:]...)
}
