package strictjson

import (
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

type inner struct {
	Mode    string    `json:"mode"`
	Allowed *[]string `json:"allowedIds,omitempty"`
}

type body struct {
	Name  Optional[string]          `json:"name"`
	Days  Optional[int]             `json:"tokenExpiresInDays"`
	Restr Optional[map[string]any]  `json:"free"`
	Inner Optional[*inner]          `json:"connectors"`
	List  []inner                   `json:"list"`
	Raw   map[string]Optional[bool] `json:"flags"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantField string
		wantMsg   string
	}{
		{name: "Valid", in: `{"name":"Bot","tokenExpiresInDays":5,"connectors":{"mode":"allowlist","allowedIds":["a"]}}`},
		{name: "CaseVariant", in: `{"Name":"Bot"}`, wantField: "Name", wantMsg: "unknown field"},
		{name: "NestedUnknown", in: `{"connectors":{"mode":"x","permissions":[]}}`, wantField: "connectors.permissions"},
		{name: "NestedCaseVariant", in: `{"connectors":{"Mode":"x"}}`, wantField: "connectors.Mode"},
		{name: "UnknownInArray", in: `{"list":[{"mode":"a"},{"nope":1}]}`, wantField: "list[1].nope"},
		{name: "Duplicate", in: `{"name":"a","name":"b"}`, wantField: "name", wantMsg: "duplicate"},
		{name: "EscapedDuplicate", in: `{"name":"a","\u006eame":"b"}`, wantField: "name", wantMsg: "duplicate"},
		{name: "DuplicateInFreeObject", in: `{"free":{"x":1,"x":2}}`, wantField: "free.x", wantMsg: "duplicate"},
		{name: "FreeObjectAnyKeys", in: `{"free":{"Whatever":{"deep":[1,2]}}}`},
		{name: "MapValuesChecked", in: `{"flags":{"a":true,"b":null}}`},
		{name: "Trailing", in: `{"name":"a"} {}`, wantMsg: "after the JSON value"},
		{name: "NotJSON", in: `{"name":`, wantMsg: "not valid JSON"},
		{name: "BadUTF8", in: "{\"name\":\"\xff\"}", wantMsg: "not valid JSON"},
		{name: "LoneSurrogate", in: `{"name":"\ud800"}`, wantMsg: "not valid JSON"},
		{name: "WrongType", in: `{"tokenExpiresInDays":"5"}`, wantField: "tokenExpiresInDays", wantMsg: "must be an integer"},
		{name: "NonInteger", in: `{"tokenExpiresInDays":5.5}`, wantField: "tokenExpiresInDays"},
		{name: "NestedWrongType", in: `{"connectors":{"allowedIds":"a"}}`, wantField: "connectors.allowedIds"},
		{name: "ArrayTooLong", in: `{"list":[` + strings.Repeat(`{},`, 3) + `{}]}`, wantField: "list", wantMsg: "at most 3"},
		{name: "TopLevelArray", in: `[]`, wantMsg: "must be a JSON object"},
		{name: "LeadingZero", in: `{"tokenExpiresInDays":01}`, wantMsg: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			err := Decode([]byte(tt.in), &b, Options{MaxArray: 3})
			if tt.wantField == "" && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("error %v, want INVALID_REQUEST", err)
			}
			if got, _ := patchbay.ErrorDetails(err)["field"].(string); got != tt.wantField {
				t.Fatalf("field %q, want %q (%v)", got, tt.wantField, err)
			}
			if !strings.Contains(patchbay.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("message %q, want it to contain %q", patchbay.ErrorMessage(err), tt.wantMsg)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	var b body
	if err := Decode([]byte(`{"name":null,"tokenExpiresInDays":7}`), &b, Options{}); err != nil {
		t.Fatal(err)
	}
	if !b.Name.Set || !b.Name.Null || !b.Days.Set || b.Days.Value != 7 || b.Inner.Set {
		t.Fatalf("got %+v", b)
	}
}

func TestUnbounded(t *testing.T) {
	type imp struct {
		OpenAPI any      `json:"openapi"`
		Tags    []string `json:"tags"`
	}
	long := `[` + strings.Repeat(`1,`, 10) + `1]`
	if err := Decode([]byte(`{"openapi":{"a":`+long+`}}`), &imp{}, Options{MaxArray: 5, Unbounded: []string{"openapi"}}); err != nil {
		t.Fatalf("unbounded member refused: %v", err)
	}
	if err := Decode([]byte(`{"tags":`+long+`}`), &imp{}, Options{MaxArray: 5, Unbounded: []string{"openapi"}}); err == nil {
		t.Fatal("long array outside the unbounded member accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"Bot"}`, `{"connectors":{"mode":"allowlist","allowedIds":["a"]}}`, `{"a":1,"a":2}`, `[1,2]`, `"\u00e9"`, `{"name":"\ud83d\ude00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var b body
		_ = Decode([]byte(in), &b, Options{MaxArray: 10})
		if err := Check([]byte(in), Options{}); err == nil && !jsonValid(in) {
			t.Fatalf("Check accepted invalid JSON %q", in)
		}
	})
}
