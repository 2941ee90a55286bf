package connector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
)

func TestValidateParams(t *testing.T) {
	rt := New(nil, nil)
	cc := mustCompile(t, bindDoc)
	big := `{"itemId":"1","fields":[` + strings.Repeat(`"a",`, 10000) + `"a"]}`
	ok10000 := `{"itemId":"1","fields":[` + strings.Repeat(`"a",`, 9999) + `"a"]}`
	tests := []struct {
		name   string
		action string
		params string
		errs   []ParamError // nil: valid
	}{
		{name: "Valid", action: "get_item", params: `{"itemId":"1","fields":["a"],"page":3}`},
		{name: "EmptyMeansNoParameters", action: "head_item", params: ``},
		{name: "ArrayOf10000", action: "get_item", params: ok10000},
		{name: "UnknownParameter", action: "get_item", params: `{"itemId":"1","limit":5}`,
			errs: []ParamError{{Path: "/limit", Message: "unknown parameter"}}},
		{name: "CaseSensitiveNames", action: "get_item", params: `{"itemId":"1","Page":5}`,
			errs: []ParamError{{Path: "/Page", Message: "unknown parameter"}}},
		{name: "MissingRequired", action: "get_item", params: `{"page":1}`,
			errs: []ParamError{{Path: "/itemId", Message: "is required"}}},
		{name: "WrongType", action: "get_item", params: `{"itemId":"1","page":"two"}`,
			errs: []ParamError{{Path: "/page", Message: "got string, want integer"}}},
		{name: "NotInteger", action: "get_item", params: `{"itemId":"1","page":1.5}`,
			errs: []ParamError{{Path: "/page", Message: "got number, want integer"}}},
		{name: "SeveralErrorsSorted", action: "get_item", params: `{"zz":1,"itemId":2,"aa":1}`,
			errs: []ParamError{{Path: "/aa", Message: "unknown parameter"}, {Path: "/itemId", Message: "got number, want string"}, {Path: "/zz", Message: "unknown parameter"}}},
		{name: "DuplicateTopLevel", action: "get_item", params: `{"itemId":"1","itemId":"2"}`,
			errs: []ParamError{{Path: "/itemId", Message: "duplicate member name"}}},
		{name: "DuplicateNested", action: "create_item", params: `{"meta":{"a":{"b":1,"b":2}}}`,
			errs: []ParamError{{Path: "/meta/a/b", Message: "duplicate member name"}}},
		{name: "ArrayTooLong", action: "get_item", params: big,
			errs: []ParamError{{Path: "/fields", Message: "array has more than 10000 items"}}},
		{name: "NotAnObject", action: "get_item", params: `["itemId"]`,
			errs: []ParamError{{Path: "", Message: "parameters must be an object"}}},
		{name: "Null", action: "get_item", params: `null`,
			errs: []ParamError{{Path: "", Message: "parameters must be an object"}}},
		{name: "InvalidJSON", action: "get_item", params: `{"itemId":}`,
			errs: []ParamError{{Path: "/itemId", Message: "invalid JSON: unexpected character"}}},
		{name: "TrailingData", action: "get_item", params: `{"itemId":"1"} x`,
			errs: []ParamError{{Path: "", Message: "invalid JSON: trailing data"}}},
		{name: "EscapedPointer", action: "get_item", params: `{"itemId":"1","a/b~c":1}`,
			errs: []ParamError{{Path: "/a~1b~0c", Message: "unknown parameter"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rt.Validate(cc, tt.action, json.RawMessage(tt.params))
			if tt.errs == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if patchbay.ErrorCode(err) != patchbay.EInvalid || patchbay.ErrorMessage(err) != "Invalid parameters" {
				t.Fatalf("err = %v, want Invalid parameters", err)
			}
			if diff := cmp.Diff(tt.errs, patchbay.ErrorDetails(err)["errors"]); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if err := rt.Validate(cc, "GET_ITEM", nil); patchbay.ErrorCode(err) != patchbay.EActionNotFound || patchbay.ErrorMessage(err) != "Action not found" {
		t.Errorf("unknown action: %v", err)
	}
}

// FuzzBindAndValidate feeds arbitrary JSON through validation and binding:
// nothing may panic, every failure is INVALID_REQUEST, and a path value can
// never add a path segment.
func FuzzBindAndValidate(f *testing.F) {
	for _, s := range []string{
		`{"itemId":"1","fields":["a","b"],"flag":true,"n":1e3,"page":2,"trace":"x"}`,
		`{"itemId":"../../admin"}`, `{"itemId":"a/b"}`, `{"itemId":"."}`, `{}`, `[]`, `null`, `{"itemId":1}`,
		`{"itemId":"\u0000"}`, `{"itemId":"x","x":{"y":{"y":1}}}`, `{"itemId":"1","trace":"a\nb"}`, `{"items":[{"a":1}]}`,
		`{"title":"t","meta":{"k":[1,2,{"z":null}]}}`, `{"name":"n","tags":["a"],"n":5}`,
	} {
		f.Add("get_item", s)
	}
	f.Add("create_item", `{"title":"t","amount":1,"meta":{}}`)
	f.Add("bulk_put", `{"items":[{}]}`)
	f.Add("form_post", `{"name":"a b","tags":["x"],"n":1}`)
	cc := mustCompile(f, bindDoc)
	m := apiKeyMaterial("k")
	f.Fuzz(func(t *testing.T, action, params string) {
		ca, err := cc.action(action)
		if err != nil {
			return
		}
		a, err := ca.validate(json.RawMessage(params))
		if err != nil {
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("validate: code %s: %v", patchbay.ErrorCode(err), err)
			}
			return
		}
		p, err := cc.bind(ca, a, m, "Patchbay/test")
		if err != nil {
			if patchbay.ErrorCode(err) != patchbay.EInvalid {
				t.Fatalf("bind: code %s: %v", patchbay.ErrorCode(err), err)
			}
			return
		}
		want := strings.Count("/v2/acme"+ca.def.Path, "/")
		if got := strings.Count(p.url.EscapedPath(), "/"); got != want {
			t.Fatalf("path %q has %d segments, want %d", p.url.EscapedPath(), got, want)
		}
		if p.body != nil && !ca.form && !json.Valid(p.body) {
			t.Fatalf("invalid JSON body %q", p.body)
		}
		for _, seg := range strings.Split(p.url.EscapedPath(), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("dot segment in %q", p.url.EscapedPath())
			}
		}
	})
}
