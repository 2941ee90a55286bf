package shape_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay/shape"
)

// items returns n objects {"id":<i>} joined as JSON array elements.
func items(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id":%d}`, i+1)
	}
	return strings.Join(parts, ",")
}

func contacts(n int) string {
	names := []string{"Ada Lovelace", "Grace Hopper", "Edsger Dijkstra"}
	parts := make([]string, n)
	for i := range parts {
		name := names[i%len(names)]
		email := strings.ToLower(strings.Fields(name)[0]) + "@example.com"
		parts[i] = fmt.Sprintf(`{"id":"c_%d","name":%q,"email":%q}`, 1001+i, name, email)
	}
	return strings.Join(parts, ",")
}

func contactsSpec() *shape.Spec {
	return &shape.Spec{
		ActionID:   "contacts_list",
		ResourceID: "contacts",
		ItemsPath:  "data",
		QueryParams: []shape.Param{
			{Name: "query", In: "query", Description: "Search by name or email"},
			{Name: "limit", In: "query", Description: "Page size"},
			{Name: "cursor", In: "query", Description: "Cursor from a previous page"},
		},
	}
}

func meta(n int, rest string) string {
	return fmt.Sprintf(`"metadata":{"originalCount":%d,"displayedCount":25,"truncated":true,"paginationHint":"Showing first 25 of %d items."%s}`, n, n, rest)
}

// nest wraps inner in depth levels of open/close.
func nest(open, close, inner string, depth int) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

func TestShape(t *testing.T) {
	guidance := `"guidance":"Narrow the request: search for specific items, use filtering parameters, or page through results with a smaller page size."`
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		in   string
		spec *shape.Spec
		want string
	}{
		// §10.2 thresholds, list at the root.
		{name: "RootEmptyList", in: `[]`, want: `{"data":[]}`},
		{name: "RootOneItem", in: `[` + items(1) + `]`, want: `{"data":[` + items(1) + `]}`},
		{name: "Root25Unchanged", in: `[` + items(25) + `]`, want: `{"data":[` + items(25) + `]}`},
		{name: "Root26Truncated", in: `[` + items(26) + `]`, want: `{"data":[` + items(25) + `],` + meta(26, "") + `}`},
		{name: "Root50Truncated", in: `[` + items(50) + `]`, want: `{"data":[` + items(25) + `],` + meta(50, "") + `}`},
		{
			name: "Root51Refinement", in: `[` + items(51) + `]`,
			want: `{"needsRefinement":true,"message":"Found 51 items. This is too many to display effectively.",` + guidance +
				`,"suggestions":["Ask the user which specific items they need"],"searchInstructions":"","samples":[` + items(3) + `],"originalCount":51}`,
		},
		// §10.2 thresholds, list at itemsPath.
		{
			name: "Path25Unchanged", spec: &shape.Spec{ItemsPath: "data"},
			in:   `{"data":[` + items(25) + `],"has_more":false}`,
			want: `{"data":[` + items(25) + `],"has_more":false}`,
		},
		{
			name: "ContractExample45", spec: &shape.Spec{ItemsPath: "data"},
			in:   `{"data":[` + items(45) + `],"next_cursor":"eyJwIjoyfQ","has_more":true}`,
			want: `{"data":[` + items(25) + `],` + meta(45, `,"itemsPath":"data","remainder":{"next_cursor":"eyJwIjoyfQ","has_more":true}`) + `}`,
		},
		{
			name: "Path26ListInTheMiddle", spec: &shape.Spec{ItemsPath: "data"},
			in:   `{"object":"list","data":[` + items(26) + `],"has_more":true}`,
			want: `{"data":[` + items(25) + `],` + meta(26, `,"itemsPath":"data","remainder":{"object":"list","has_more":true}`) + `}`,
		},
		{
			name: "Path50Nested", spec: &shape.Spec{ItemsPath: "result.items"},
			in:   `{"ok":true,"result":{"total":50,"items":[` + items(50) + `],"next":null}}`,
			want: `{"data":[` + items(25) + `],` + meta(50, `,"itemsPath":"result.items","remainder":{"ok":true,"result":{"total":50,"next":null}}`) + `}`,
		},
		{
			name: "PathOnlyMember", spec: &shape.Spec{ItemsPath: "data"},
			in:   `{"data":[` + items(30) + `]}`,
			want: `{"data":[` + items(25) + `],` + meta(30, `,"itemsPath":"data","remainder":{}`) + `}`,
		},
		{
			name: "ContractExample298", spec: contactsSpec(),
			in: `{"data":[` + contacts(298) + `],"next_cursor":"abc"}`,
			want: `{"needsRefinement":true,"message":"Found 298 contacts. This is too many to display effectively.",` + guidance +
				`,"suggestions":["Try: contacts_list with limit parameter (e.g., { limit: 10 })",` +
				`"Try: contacts_list with query parameter to search for specific items",` +
				`"Use cursor to page through results","Ask the user which specific items they need"],` +
				`"searchInstructions":"You can search using:\n- query (query): Search by name or email\n- limit (query): Page size\n- cursor (query): Cursor from a previous page",` +
				`"samples":[` + contacts(3) + `],"originalCount":298}`,
		},
		{
			name: "RefinementFirstOfEachKind",
			spec: &shape.Spec{ActionID: "tickets_search", ResourceID: "tickets", QueryParams: []shape.Param{
				{Name: "page", Description: "Page number"},
				{Name: "q", In: "query", Description: "Free text"},
				{Name: "X-Tenant", In: "header", Description: "ignored: not a query parameter"},
				{Name: "per_page", In: "query"},
				{Name: "count", In: "query", Description: "second limit-like name"},
				{Name: "search", In: "query", Description: "second search-like name"},
			}},
			in: `[` + items(51) + `]`,
			want: `{"needsRefinement":true,"message":"Found 51 tickets. This is too many to display effectively.",` + guidance +
				`,"suggestions":["Try: tickets_search with per_page parameter (e.g., { per_page: 10 })",` +
				`"Try: tickets_search with q parameter to search for specific items",` +
				`"Use page to page through results","Ask the user which specific items they need"],` +
				`"searchInstructions":"You can search using:\n- page (query): Page number\n- q (query): Free text\n- per_page (query)\n- count (query): second limit-like name\n- search (query): second search-like name",` +
				`"samples":[` + items(3) + `],"originalCount":51}`,
		},
		{
			name: "RefinementSamplesCutAt200", in: `[{"note":"` + long + `","deep":[[[[[[[[[["too deep"]]]]]]]]]]},` + items(60) + `]`,
			want: `{"needsRefinement":true,"message":"Found 61 items. This is too many to display effectively.",` + guidance +
				`,"suggestions":["Ask the user which specific items they need"],"searchInstructions":"",` +
				`"samples":[{"note":"` + long[:200] + `…","deep":[[[[[[["[max depth reached]"]]]]]]]},` + items(2) + `],"originalCount":61}`,
		},
		{
			name: "RefinementLongTextsCut",
			spec: &shape.Spec{ActionID: strings.Repeat("a", 5200), QueryParams: []shape.Param{{Name: "limit", Description: strings.Repeat("d", 5200)}}},
			in:   `[` + items(51) + `]`,
			want: `{"needsRefinement":true,"message":"Found 51 items. This is too many to display effectively.",` + guidance +
				`,"suggestions":["Try: ` + strings.Repeat("a", 5115) + `…","Ask the user which specific items they need"],` +
				`"searchInstructions":"You can search using:\n- limit (query): ` + strings.Repeat("d", 5120-len("You can search using:\n- limit (query): ")) + `…",` +
				`"samples":[` + items(3) + `],"originalCount":51}`,
		},
		// §10.1: where the list is.
		{name: "PathNotAnArray", spec: &shape.Spec{ItemsPath: "data"}, in: `{"data":{"a":1}}`, want: `{"data":{"a":1}}`},
		{name: "PathMissing", spec: &shape.Spec{ItemsPath: "items"}, in: `{"data":[` + items(30) + `]}`, want: `{"data":[` + items(30) + `]}`},
		{name: "PathMissingRootArray", spec: &shape.Spec{ItemsPath: "data"}, in: `[` + items(26) + `]`, want: `{"data":[` + items(25) + `],` + meta(26, "") + `}`},
		{name: "PathThroughNonObject", spec: &shape.Spec{ItemsPath: "a.b"}, in: `{"a":[1],"b":2}`, want: `{"a":[1],"b":2}`},
		{name: "PathEscapedKey", spec: &shape.Spec{ItemsPath: "d\u00e4ta"}, in: `{"d\u00e4ta":[` + items(26) + `]}`, want: `{"data":[` + items(25) + `],` + meta(26, `,"itemsPath":"däta","remainder":{}`) + `}`},
		{name: "PathDuplicateKeyLastWins", spec: &shape.Spec{ItemsPath: "data"}, in: `{"data":[1],"data":[` + items(26) + `]}`, want: `{"data":[` + items(25) + `],` + meta(26, `,"itemsPath":"data","remainder":{"data":[1]}`) + `}`},
		{name: "NilSpecObject", in: `{"data":[` + items(30) + `]}`, want: `{"data":[` + items(30) + `]}`},
		// Order, compaction, wrapping.
		{name: "MemberOrderPreserved", in: `{"z":1,"a":{"y":true,"b":null,"m":[3,2,1]},"m":"x"}`, want: `{"z":1,"a":{"y":true,"b":null,"m":[3,2,1]},"m":"x"}`},
		{name: "Compacted", in: " {\n \"a\" : [ 1 , -2.5e+3 , 0 ] ,\t\"b\" : { } , \"c\" : [ ] }\r\n", want: `{"a":[1,-2.5e+3,0],"b":{},"c":[]}`},
		{name: "HTMLStaysLiteral", in: `{"html":"<b>Tom & Jerry</b>"}`, want: `{"html":"<b>Tom & Jerry</b>"}`},
		{name: "HTMLEscapesDecoded", in: `{"html":"\u003cb\u003e \u0026"}`, want: `{"html":"<b> &"}`},
		{name: "WrapString", in: `"plain text"`, want: `{"data":"plain text"}`},
		{name: "WrapNumber", in: `42`, want: `{"data":42}`},
		{name: "WrapBool", in: `true`, want: `{"data":true}`},
		{name: "WrapNull", in: `null`, want: `{"data":null}`},
		{name: "Empty", in: ``, want: `{"data":null}`},
		{name: "Whitespace", in: " \n\t", want: `{"data":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shape.Shape(json.RawMessage(tt.in), tt.spec)
			if err != nil {
				t.Fatalf("Shape: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Shape (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestShapeInvalid(t *testing.T) {
	for _, in := range []string{`{`, `{"a":}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1 2]`, `{"a":1,}`, `{"a":1}x`, `01`, `1.`, `-`, `1e`, `.5`,
		`tru`, `nul`, `"abc`, "\"a\x01b\"", `"\x"`, `"\u12g4"`, `[}`, `{]`, `"\`, `{"a":1}}`, `[[]`, "\xef\xbb\xbf{}"} {
		t.Run(in, func(t *testing.T) {
			got, err := shape.Shape(json.RawMessage(in), nil)
			if !errors.Is(err, shape.ErrInvalidJSON) {
				t.Errorf("Shape = %s, %v; want ErrInvalidJSON", got, err)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	s5120 := strings.Repeat("a", 5120)
	e2 := strings.Repeat("é", 2561)         // 5122 bytes, 2-byte characters
	euro := "a" + strings.Repeat("€", 1707) // 5122 bytes, a 3-byte character straddles 5120
	emoji := strings.Repeat("😀", 1281)      // 5124 bytes
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "StringAtLimit", in: `{"s":"` + s5120 + `"}`, want: `{"s":"` + s5120 + `"}`},
		{name: "StringOverLimit", in: `{"s":"` + s5120 + `b"}`, want: `{"s":"` + s5120 + `…"}`},
		{name: "CutTwoByte", in: `{"s":"` + e2 + `"}`, want: `{"s":"` + e2[:5120] + `…"}`},
		{name: "CutThreeByteBoundary", in: `{"s":"` + euro + `"}`, want: `{"s":"` + euro[:5119] + `…"}`},
		{name: "CutFourByteBoundary", in: `{"s":"` + emoji + `"}`, want: `{"s":"` + emoji[:5120] + `…"}`},
		{name: "CutCountsDecodedBytes", in: `["` + strings.Repeat(`\u0041`, 5121) + `"]`, want: `["` + strings.Repeat("A", 5120) + `…"]`},
		{name: "CutEscapedTwoByte", in: `"` + strings.Repeat(`\u00e9`, 2561) + `"`, want: `"` + e2[:5120] + `…"`},
		{name: "CutRootString", in: `"` + s5120 + `bc"`, want: `"` + s5120 + `…"`},
		{name: "CutKey", in: `{"` + s5120 + `b":1}`, want: `{"` + s5120 + `…":1}`},
		{name: "Depth10Kept", in: nest("[", "]", "1", 10), want: nest("[", "]", "1", 10)},
		{name: "Depth11Array", in: nest("[", "]", "", 11), want: nest("[", "]", `"[max depth reached]"`, 10)},
		{name: "Depth11Object", in: nest(`{"a":`, "}", `{"b":[1]}`, 10), want: nest(`{"a":`, "}", `"[max depth reached]"`, 10)},
		{name: "DepthDeepInput", in: nest("[", "]", "", 5000), want: nest("[", "]", `"[max depth reached]"`, 10)},
		{name: "DepthMixed", in: `{"a":[{"b":[{"c":[{"d":[{"e":[{"f":1},{"g":{}}],"h":2}]}]}]}]}`, want: `{"a":[{"b":[{"c":[{"d":[{"e":["[max depth reached]","[max depth reached]"],"h":2}]}]}]}]}`},
		{name: "Array1000Kept", in: `{"a":[` + strings.Repeat("0,", 999) + `0]}`, want: `{"a":[` + strings.Repeat("0,", 999) + `0]}`},
		{name: "Array1001Cut", in: `{"a":[` + strings.Repeat("0,", 1000) + `1]}`, want: `{"a":[` + strings.Repeat("0,", 999) + `0]}`},
		{name: "EscapesNormalized", in: `["\/\b\f\n\r\t\"\\\u0001\u001F\u00e9\ud83d\ude00\u2028"]`, want: `["/\b\f\n\r\t\"\\\u0001\u001f` + "é😀" + `\u2028"]`},
		{name: "RawLineSeparatorEscaped", in: "[\"a\u2029b\"]", want: `["a\u2029b"]`},
		{name: "LoneSurrogate", in: `["\ud800x","\udc00\u0041"]`, want: `["` + "\uFFFD" + `x","` + "\uFFFD" + `A"]`},
		{name: "InvalidUTF8", in: "[\"a\xffb\"]", want: `["a` + "\uFFFD" + `b"]`},
		{name: "NotJSONBecomesString", in: "<html>\n<b>Bad Gateway</b>", want: `"<html>\n<b>Bad Gateway</b>"`},
		{name: "Empty", in: "", want: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shape.Limit(json.RawMessage(tt.in))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Limit (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON")
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	big := `{"error":{"message":"` + strings.Repeat("é", 3000) + `"}}` // 6000-byte string, cut to 5120 first
	limited := string(shape.Limit(json.RawMessage(big)))
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "SmallUnchanged", in: `{"error":"invalid_grant", "detail":"<none>"}`, max: 5120, want: `{"error":"invalid_grant","detail":"<none>"}`},
		{name: "ExactFit", in: `{"error":"bad"}`, max: 15, want: `{"error":"bad"}`},
		{name: "CutToString", in: `{"error":"bad"}`, max: 12, want: `"{\"erro…"`},
		{name: "CutQuoteEscapeFits", in: `"ééé"`, max: 7, want: `"\"…"`},
		{name: "CutAfterWholeCharacter", in: `["éééé"]`, max: 10, want: `"[\"é…"`},
		{name: "CutBeforeWholeCharacter", in: `["ééé"]`, max: 9, want: `"[\"…"`},
		{name: "TinyMaxRaised", in: `[1,2,3]`, max: 2, want: `"…"`},
		{name: "DefaultMax", in: big, max: 0, want: errorBodyPrefix(limited, 5120)},
		{name: "NotJSON", in: "Service Unavailable", max: 5120, want: `"Service Unavailable"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shape.ErrorBody(json.RawMessage(tt.in), tt.max)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("ErrorBody (-want +got):\n%s", diff)
			}
			limit := tt.max
			if limit == 0 {
				limit = shape.MaxErrorBodyBytes
			}
			if len(got) > max(limit, 5) || !json.Valid(got) {
				t.Errorf("ErrorBody gave %d bytes (max %d), valid %v", len(got), limit, json.Valid(got))
			}
		})
	}
}

// errorBodyPrefix is the expected cut of a compact body that is too long,
// built independently with encoding/json: the longest prefix (whole
// characters) whose encoding plus "…" fits in max bytes.
func errorBodyPrefix(compact string, max int) string {
	prefix := ""
	for i, r := range compact {
		enc := encodeString(compact[:i+utf8.RuneLen(r)] + "…")
		if len(enc) > max {
			break
		}
		prefix = compact[:i+utf8.RuneLen(r)]
	}
	return encodeString(prefix + "…")
}

func encodeString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func FuzzShape(f *testing.F) {
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `"<&>"`, `{"data":[1,2,3],"next":"x"}`, `[` + items(26) + `]`, `{"data":[` + items(51) + `]}`,
		`{"a":{"b":[{"c":"` + strings.Repeat("é", 3000) + `"}]}}`, nest("[", "]", "", 12), `["\ud83d\ude00\u2028\ud800"]`,
		"\"\xff\xfe\"", `{"a":1,"a":2}`, `-0.0e-0`, `[1,]`, `{"a"`, "  \"x\"  ",
	} {
		f.Add([]byte(s))
	}
	spec := &shape.Spec{ActionID: "a", ResourceID: "r", ItemsPath: "data", QueryParams: []shape.Param{{Name: "limit", In: "query"}}}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := shape.Shape(in, spec)
		valid := json.Valid(in)
		blank := len(bytes.TrimSpace(in)) == 0
		switch {
		case valid && err != nil:
			t.Fatalf("Shape rejected valid JSON: %v", err)
		case !valid && !blank && err == nil:
			t.Fatalf("Shape accepted invalid JSON, gave %s", out)
		case err == nil && (!json.Valid(out) || out[0] != '{'):
			t.Fatalf("Shape gave %q", out)
		}
		lim := shape.Limit(in)
		if !json.Valid(lim) {
			t.Fatalf("Limit gave invalid JSON %q", lim)
		}
		if eb := shape.ErrorBody(in, 64); len(eb) > 64 || !json.Valid(eb) {
			t.Fatalf("ErrorBody gave %q", eb)
		}
		// Within the limits, Limit changes the form of a value but not its
		// meaning, and strings are encoded exactly as encoding/json does.
		if valid && len(in) < 2000 && maxDepth(in) <= 10 {
			if diff := cmp.Diff(decode(t, in), decode(t, lim)); diff != "" {
				t.Fatalf("Limit changed the value (-in +out):\n%s", diff)
			}
			var s string
			if bytes.HasPrefix(bytes.TrimSpace(in), []byte(`"`)) && json.Unmarshal(in, &s) == nil && encodeString(s) != string(lim) {
				t.Fatalf("string encoded as %s, encoding/json gives %s", lim, encodeString(s))
			}
		}
	})
}

func decode(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

func maxDepth(b []byte) int {
	d := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

func benchShape(b *testing.B, in []byte, spec *shape.Spec) {
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := shape.Shape(in, spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShapeSmall(b *testing.B) {
	in := []byte(`{"id":"c_1001","name":"Ada Lovelace","email":"ada@example.com","company":"Analytical Engines Ltd",` +
		`"tags":["vip","math"],"score":97.5,"active":true,"owner":null,"notes":"Prefers <email> & letters"}`)
	benchShape(b, in, &shape.Spec{ItemsPath: "data"})
}

func BenchmarkShape4KB(b *testing.B) {
	in := []byte(`{"data":[` + contacts(25) + `],"meta":{"next_cursor":"eyJwIjoyfQ","note":"Zoë’s café"}}`)
	for len(in) < 4096 {
		in = append(in[:len(in)-1], `,"pad":"lorem ipsum dolor sit amet"}`...)
	}
	benchShape(b, in, contactsSpec())
}

func BenchmarkShapeList60(b *testing.B) {
	benchShape(b, []byte(`{"data":[`+contacts(60)+`],"next_cursor":"abc"}`), contactsSpec())
}
