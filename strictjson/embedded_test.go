package strictjson

import (
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

type embeddedShared struct {
	Name  Optional[string]          `json:"name"`
	Inner Optional[*inner]          `json:"connectors"`
	Flags map[string]Optional[bool] `json:"flags"`
}

type embeddingBody struct {
	embeddedShared
	Days Optional[int] `json:"tokenExpiresInDays"`
}

// A type error in a member promoted from an embedded struct names the member
// as the client sent it, not the Go type it was promoted from.
func TestDecodeEmbeddedFieldPath(t *testing.T) {
	tests := []struct {
		name, in, wantField string
	}{
		{name: "Promoted", in: `{"name":5}`, wantField: "name"},
		{name: "PromotedNested", in: `{"connectors":{"mode":1}}`, wantField: "connectors.mode"},
		{name: "PromotedNotObject", in: `{"connectors":[]}`, wantField: "connectors"},
		{name: "Own", in: `{"tokenExpiresInDays":"5"}`, wantField: "tokenExpiresInDays"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b embeddingBody
			err := Decode([]byte(tt.in), &b, Options{})
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("err = %v, want INVALID_REQUEST", err)
			}
			if got := patchbay.ErrorDetails(err)["field"]; got != tt.wantField {
				t.Fatalf("field = %v, want %q", got, tt.wantField)
			}
		})
	}
}
