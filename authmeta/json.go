package authmeta

import (
	"bytes"
	"encoding/json"
)

func (f fieldsSchema) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, nf := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		v, err := json.Marshal(nf.schema)
		if err != nil {
			return nil, err
		}
		b.Write(quote(nf.name))
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (f fields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, nv := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(quote(nv.name))
		b.WriteByte(':')
		b.Write(quote(nv.value))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// quote encodes s as a JSON string without HTML escaping.
func quote(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}
