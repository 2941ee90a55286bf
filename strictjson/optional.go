package strictjson

import (
	"encoding/json"
	"reflect"
)

// Optional records whether a member was sent, and whether it was null, so
// that a partial update can tell "absent" from "clear" (§2, §5.6).
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON is called for every present member, including null.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// StrictElem lets Decode check members against T.
func (Optional[T]) StrictElem() reflect.Type { return reflect.TypeFor[T]() }
