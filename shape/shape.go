package shape

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// List thresholds of §10.2.
const (
	DisplayItems = 25 // lists up to this size pass unchanged; longer ones show this many
	RefineAbove  = 50 // lists longer than this become a refinement object
	SampleItems  = 3  // items shown in a refinement object
)

// MaxErrorBodyBytes is the size cap of details.body of an upstream error
// (§7.4), the default of ErrorBody.
const MaxErrorBodyBytes = 5120

// Spec describes the action whose response is shaped.
type Spec struct {
	ActionID   string // names the action in suggestions
	ResourceID string // the noun of the refinement message; "" means "items"
	ItemsPath  string // response.itemsPath: dot-separated object keys, "" if none
	// QueryParams are the action's optional query-located parameters in
	// schema order; entries with another In are ignored.
	QueryParams []Param
}

// Param is one action parameter as the refinement object describes it.
type Param struct {
	Name        string
	In          string // "query"; "" is read as "query"
	Description string
}

// Shape applies §10 to an upstream JSON value and returns the tool output:
// the list (at spec.ItemsPath, else the value itself if it is an array) is
// kept when it has at most 25 items, cut to 25 with metadata up to 50 items,
// and replaced by a refinement object above that; then the §10.3 limits apply
// and a value that is not an object is wrapped as {"data": value}. Empty input
// gives {"data":null}. It fails only when value is not valid JSON
// (ErrInvalidJSON). spec may be nil.
//
// Depths for the limits count in the shaped value (the items of a truncated
// list sit at depth 3, under "data"); the {"data": value} wrapper of a
// non-object is added after the limits, as §7.4 wraps the shaped value.
func Shape(value json.RawMessage, spec *Spec) (json.RawMessage, error) {
	start, end, err := validate(value)
	if err != nil {
		return nil, err
	}
	if start == end {
		return json.RawMessage(`{"data":null}`), nil
	}
	if spec == nil {
		spec = &Spec{}
	}
	list, fromPath := -1, false
	if spec.ItemsPath != "" {
		if at, ok := lookup(value, start, spec.ItemsPath); ok && value[at] == '[' {
			list, fromPath = at, true
		}
	}
	if list < 0 && value[start] == '[' {
		list = start
	}
	n := 0
	if list >= 0 {
		n = count(value, list)
	}

	w := writer{src: value}
	switch {
	case list < 0 || n <= DisplayItems:
		w.out = make([]byte, 0, end-start+16)
		wrap := value[start] != '{'
		if wrap {
			w.out = append(w.out, `{"data":`...)
		}
		w.value(start, 1, MaxStringBytes, -1)
		if wrap {
			w.out = append(w.out, '}')
		}
	case n <= RefineAbove:
		w.out = make([]byte, 0, end-start+256)
		w.truncated(start, list, n, fromPath, spec.ItemsPath)
	default:
		w.out = make([]byte, 0, 1024)
		w.refinement(list, n, spec)
	}
	return w.out, nil
}

// truncated writes the 26..50 form: the first 25 items plus metadata, with
// the rest of the upstream object as remainder when the list came from
// itemsPath (so cursors and totals survive).
func (w *writer) truncated(root, list, n int, fromPath bool, itemsPath string) {
	w.out = append(w.out, `{"data":`...)
	w.array(list, DisplayItems, 2, MaxStringBytes, -1)
	w.out = append(w.out, `,"metadata":{"originalCount":`...)
	w.out = strconv.AppendInt(w.out, int64(n), 10)
	w.out = append(w.out, `,"displayedCount":`...)
	w.out = strconv.AppendInt(w.out, DisplayItems, 10)
	w.out = append(w.out, `,"truncated":true,"paginationHint":"Showing first `...)
	w.out = strconv.AppendInt(w.out, DisplayItems, 10)
	w.out = append(w.out, ` of `...)
	w.out = strconv.AppendInt(w.out, int64(n), 10)
	w.out = append(w.out, ` items."`...)
	if fromPath {
		w.out = append(w.out, `,"itemsPath":`...)
		w.out = appendText(w.out, itemsPath, MaxStringBytes)
		w.out = append(w.out, `,"remainder":`...)
		w.value(root, 3, MaxStringBytes, list)
	}
	w.out = append(w.out, `}}`...)
}

// refinement writes the object that replaces a list of more than 50 items.
func (w *writer) refinement(list, n int, spec *Spec) {
	noun := spec.ResourceID
	if noun == "" {
		noun = "items"
	}
	var num [20]byte
	count := string(strconv.AppendInt(num[:0], int64(n), 10))
	w.out = append(w.out, `{"needsRefinement":true,"message":`...)
	w.out = appendJoined(w.out, "Found ", count, " ", noun, ". This is too many to display effectively.")
	w.out = append(w.out, `,"guidance":"Narrow the request: search for specific items, use filtering parameters, or page through results with a smaller page size.","suggestions":[`...)
	if p := firstNamed(spec.QueryParams, isLimitName); p != "" {
		w.out = appendJoined(w.out, "Try: ", spec.ActionID, " with ", p, " parameter (e.g., { ", p, ": 10 })")
		w.out = append(w.out, ',')
	}
	if p := firstNamed(spec.QueryParams, isSearchName); p != "" {
		w.out = appendJoined(w.out, "Try: ", spec.ActionID, " with ", p, " parameter to search for specific items")
		w.out = append(w.out, ',')
	}
	if p := firstNamed(spec.QueryParams, isPageName); p != "" {
		w.out = appendJoined(w.out, "Use ", p, " to page through results")
		w.out = append(w.out, ',')
	}
	w.out = append(w.out, `"Ask the user which specific items they need"],"searchInstructions":`...)
	w.out = appendSearchInstructions(w.out, spec.QueryParams)
	w.out = append(w.out, `,"samples":`...)
	w.array(list, SampleItems, 2, SampleStringBytes, -1)
	w.out = append(w.out, `,"originalCount":`...)
	w.out = append(w.out, count...)
	w.out = append(w.out, '}')
}

func isQuery(p *Param) bool { return p.In == "" || p.In == "query" }

// firstNamed returns the name of the first query parameter, in schema order,
// whose name is of the kind.
func firstNamed(params []Param, kind func(string) bool) string {
	for i := range params {
		if isQuery(&params[i]) && kind(params[i].Name) {
			return params[i].Name
		}
	}
	return ""
}

// The parameter names that earn each suggestion of §10.2.

func isLimitName(s string) bool {
	switch s {
	case "limit", "per_page", "page_size", "pageSize", "count", "max_results", "maxResults":
		return true
	}
	return false
}

func isSearchName(s string) bool {
	switch s {
	case "query", "q", "search", "filter", "name":
		return true
	}
	return false
}

func isPageName(s string) bool {
	switch s {
	case "cursor", "page", "offset", "page_token", "pageToken":
		return true
	}
	return false
}

// appendSearchInstructions writes "You can search using:" and one line
// "- name (query): description" per query parameter ("- name (query)" without
// a description), or "" when there is none.
func appendSearchInstructions(out []byte, params []Param) []byte {
	const head, in = "You can search using:", " (query)"
	size := 0
	for i := range params {
		if p := &params[i]; isQuery(p) {
			size += len("\n- ") + len(p.Name) + len(in) + len(": ") + len(p.Description)
		}
	}
	if size == 0 {
		return append(out, `""`...)
	}
	if size+len(head) > MaxStringBytes {
		// Rare: build the text so that appendText can cut it.
		b := make([]byte, 0, size+len(head))
		b = append(b, head...)
		for i := range params {
			if p := &params[i]; isQuery(p) {
				b = append(b, "\n- "+p.Name+in...)
				if p.Description != "" {
					b = append(b, ": "+p.Description...)
				}
			}
		}
		return appendText(out, string(b), MaxStringBytes)
	}
	out = append(out, `"`+head...)
	for i := range params {
		if p := &params[i]; isQuery(p) {
			out = append(out, `\n- `...)
			out = appendEscapedString(out, p.Name)
			out = append(out, in...)
			if p.Description != "" {
				out = append(out, ": "...)
				out = appendEscapedString(out, p.Description)
			}
		}
	}
	return append(out, '"')
}

// appendJoined writes the concatenation of parts as one JSON string cut to
// MaxStringBytes, without building the concatenation in the common case.
func appendJoined(out []byte, parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxStringBytes {
		return appendText(out, strings.Join(parts, ""), MaxStringBytes)
	}
	out = append(out, '"')
	for _, p := range parts {
		out = appendEscapedString(out, p)
	}
	return append(out, '"')
}

// Limit applies only the §10.3 limits. Input that is not valid JSON is
// returned as a JSON string of its text (cut like any string); empty input
// gives null.
func Limit(value json.RawMessage) json.RawMessage {
	start, end, err := validate(value)
	switch {
	case err != nil:
		return appendText(make([]byte, 0, min(len(value), MaxStringBytes)+8), string(value), MaxStringBytes)
	case start == end:
		return json.RawMessage("null")
	}
	w := writer{src: value, out: make([]byte, 0, end-start)}
	w.value(start, 1, MaxStringBytes, -1)
	return w.out
}

// ErrorBody shapes details.body of an upstream error (§7.4): the §10.3 limits,
// then, if the compact result is longer than maxBytes, a JSON string of its
// first characters ending in "…" that fits in maxBytes. maxBytes <= 0 means
// MaxErrorBodyBytes; values below 5 are raised to 5 (the size of "…" quoted).
func ErrorBody(value json.RawMessage, maxBytes int) json.RawMessage {
	if maxBytes <= 0 {
		maxBytes = MaxErrorBodyBytes
	}
	maxBytes = max(maxBytes, len(ellipsis)+2)
	limited := Limit(value)
	if len(limited) <= maxBytes {
		return limited
	}
	budget := maxBytes - len(ellipsis) - 2
	out := make([]byte, 0, maxBytes)
	out = append(out, '"')
	for i := 0; i < len(limited); {
		r, size := utf8.DecodeRune(limited[i:])
		if budget -= escapedLen(r); budget < 0 {
			break
		}
		out = appendEscaped(out, r)
		i += size
	}
	return append(out, ellipsis+`"`...)
}
