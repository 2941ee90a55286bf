package openapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

// doc30 wraps paths (and optional extra top-level YAML) into an OpenAPI 3.0
// document; doc31 does the same for 3.1.
func doc30(rest string) []byte { return []byte(header("3.0.3") + rest) }
func doc31(rest string) []byte { return []byte(header("3.1.0") + rest) }

func header(version string) string {
	return "openapi: " + version + "\ninfo: {title: Test API, version: '1'}\nservers: [{url: 'https://api.example.com/v1'}]\n"
}

func mustImport(t testing.TB, doc []byte, opts *Options) *Result {
	t.Helper()
	res, err := Import(doc, opts)
	if err != nil {
		t.Fatalf("Import: %v (details %v)", err, patchbay.ErrorDetails(err))
	}
	return res
}

// actionView is an action with its parameters decoded, for cmp.Diff.
type actionView struct {
	Resource     string
	ID           string
	Name         string
	Description  string
	Method       string
	Path         string
	Params       any
	ReadOnly     *bool
	BodyEncoding string
	ItemsPath    string
}

func views(c *patchbay.Connector) []actionView {
	var out []actionView
	for _, r := range c.Resources {
		for _, a := range r.Actions {
			out = append(out, view(r.ID, a))
		}
	}
	return out
}

func view(resource string, a patchbay.Action) actionView {
	var params any
	if err := json.Unmarshal(a.Parameters, &params); err != nil {
		params = "invalid JSON: " + err.Error()
	}
	return actionView{
		Resource: resource, ID: a.ID, Name: a.Name, Description: a.Description, Method: a.Method, Path: a.Path,
		Params: params, ReadOnly: a.ReadOnly, BodyEncoding: a.BodyEncoding, ItemsPath: a.ItemsPath(),
	}
}

// js decodes a JSON literal written in a test table.
func js(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test table: %v\n%s", err, s)
	}
	return v
}

// indent re-indents a YAML block so table rows can be written flush left.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}
