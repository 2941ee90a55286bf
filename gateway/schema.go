package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/patchbay-mcp/patchbay"
)

// node is an order-preserving JSON value: action schemas are shown to
// models with their properties in the author's order (§7.3).
type node struct {
	obj    []member // object members, in order; nil for non-objects
	isObj  bool
	arr    []*node
	isArr  bool
	scalar json.RawMessage
}

type member struct {
	key string
	val *node
}

func parseNode(raw []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil {
		return nil, err
	}
	return n, nil
}

func readNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{isObj: true}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				n.obj = append(n.obj, member{key: kt.(string), val: v})
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &node{isArr: true}
			for dec.More() {
				v, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, v)
			}
			_, err := dec.Token()
			return n, err
		}
		return nil, io.ErrUnexpectedEOF
	default:
		b, err := json.Marshal(t)
		return &node{scalar: b}, err
	}
}

func (n *node) get(key string) *node {
	for _, m := range n.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

func (n *node) str() string {
	var s string
	_ = json.Unmarshal(n.scalar, &s)
	return s
}

// withoutX returns a copy of n with every x-* member removed, recursively.
func (n *node) withoutX() *node {
	switch {
	case n.isObj:
		out := &node{isObj: true}
		for _, m := range n.obj {
			if strings.HasPrefix(m.key, "x-") {
				continue
			}
			out.obj = append(out.obj, member{key: m.key, val: m.val.withoutX()})
		}
		return out
	case n.isArr:
		out := &node{isArr: true}
		for _, v := range n.arr {
			out.arr = append(out.arr, v.withoutX())
		}
		return out
	}
	return n
}

// set replaces or appends a member.
func (n *node) set(key string, v *node) {
	for i := range n.obj {
		if n.obj[i].key == key {
			n.obj[i].val = v
			return
		}
	}
	n.obj = append(n.obj, member{key: key, val: v})
}

func (n *node) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	n.write(&b)
	return b.Bytes(), nil
}

func (n *node) write(b *bytes.Buffer) {
	switch {
	case n.isObj:
		b.WriteByte('{')
		for i, m := range n.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(marshal(m.key))
			b.WriteByte(':')
			m.val.write(b)
		}
		b.WriteByte('}')
	case n.isArr:
		b.WriteByte('[')
		for i, v := range n.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
		b.WriteByte(']')
	default:
		b.Write(n.scalar)
	}
}

func scalarNode(v any) *node { return &node{scalar: marshal(v)} }

// actionDescription is what get_action_details_alloy derives from a schema.
type actionDescription struct {
	params   []orderedObject
	schema   *node
	sample   orderedObject
	required int
}

func schemaOf(a *patchbay.Action) []byte {
	if len(a.Parameters) == 0 {
		return []byte(`{"type":"object"}`)
	}
	return a.Parameters
}

// describeAction builds parameters, inputSchema and sampleInput (§7.3).
func describeAction(conn *patchbay.Connector, a *patchbay.Action) (*actionDescription, error) {
	root, err := parseNode(schemaOf(a))
	if err != nil {
		return nil, patchbay.Errorf(patchbay.EInternal, "Internal error").Wrap(err)
	}
	d := &actionDescription{schema: root.withoutX(), params: []orderedObject{}, sample: orderedObject{}}
	required := map[string]bool{}
	if req := root.get("required"); req != nil {
		for _, r := range req.arr {
			required[r.str()] = true
		}
	}
	props := root.get("properties")
	if props == nil {
		return d, nil
	}
	for _, m := range props.obj {
		p := m.val
		in := "arguments"
		if !conn.IsMCP() {
			in = locationOf(a, m.key, p)
		}
		typ := "any"
		if t := p.get("type"); t != nil && len(t.scalar) > 0 && t.scalar[0] == '"' {
			typ = t.str()
		}
		desc := ""
		if dn := p.get("description"); dn != nil {
			desc = dn.str()
		}
		item := orderedObject{{"name", m.key}, {"in", in}, {"type", typ}, {"required", required[m.key]}, {"description", desc}}
		for _, k := range []string{"enum", "default", "minimum", "maximum", "format", "example"} {
			if v := p.get(k); v != nil {
				item = append(item, struct {
					k string
					v any
				}{k, v})
			}
		}
		d.params = append(d.params, item)
		if required[m.key] {
			d.required++
		}
		// sampleInput: examples[0], else default, else enum[0].
		var sample *node
		if ex := p.get("examples"); ex != nil && len(ex.arr) > 0 {
			sample = ex.arr[0]
		} else if def := p.get("default"); def != nil {
			sample = def
		} else if en := p.get("enum"); en != nil && len(en.arr) > 0 {
			sample = en.arr[0]
		}
		if sample != nil {
			d.sample = append(d.sample, struct {
				k string
				v any
			}{m.key, sample})
		}
	}
	return d, nil
}

// locationOf applies the x-in default of §11.1.
func locationOf(a *patchbay.Action, name string, p *node) string {
	if x := p.get("x-in"); x != nil {
		return x.str()
	}
	if strings.Contains(a.Path, "{"+name+"}") {
		return "path"
	}
	switch a.Method {
	case "GET", "HEAD", "DELETE":
		return "query"
	}
	return "body"
}
