package upstream

import (
	"bufio"
	"bytes"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// go-sdk decodes a listed tool's inputSchema into a map, which loses the
// member order that the model reads properties in. The listing therefore
// keeps the raw response bodies and puts each tool's schema back verbatim.

type rawTools struct {
	Result *struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	} `json:"result"`
}

// restoreSchemas replaces each tool's decoded InputSchema with the raw JSON
// of the same tool in the captured bodies. Tools it cannot match keep the
// decoded value.
func restoreSchemas(tools []*mcp.Tool, captures []*capture) {
	raw := make(map[string][]json.RawMessage, len(tools))
	for _, c := range captures {
		for _, msg := range messages(c.bytes(), c.sse) {
			var rt rawTools
			if json.Unmarshal(msg, &rt) != nil || rt.Result == nil {
				continue
			}
			for _, t := range rt.Result.Tools {
				raw[t.Name] = append(raw[t.Name], t.InputSchema)
			}
		}
	}
	for _, t := range tools {
		q := raw[t.Name]
		if len(q) == 0 {
			continue
		}
		if len(q[0]) > 0 && json.Valid(q[0]) {
			t.InputSchema = q[0]
		}
		raw[t.Name] = q[1:]
	}
}

// messages splits a response body into JSON-RPC messages: the body itself,
// the members of a batch, or the data of each server-sent event.
func messages(body []byte, sse bool) [][]byte {
	if !sse {
		body = bytes.TrimSpace(body)
		if len(body) > 0 && body[0] == '[' {
			var batch []json.RawMessage
			if json.Unmarshal(body, &batch) != nil {
				return nil
			}
			out := make([][]byte, len(batch))
			for i := range batch {
				out[i] = batch[i]
			}
			return out
		}
		return [][]byte{body}
	}
	var out [][]byte
	var data []byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), maxResponseBytes+1)
	flush := func() {
		if len(data) > 0 {
			out = append(out, data)
		}
		data = nil
	}
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			flush()
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, v...)
		}
	}
	flush()
	return out
}
