package catalog

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

func mustBuiltin(t testing.TB) []*patchbay.Connector {
	t.Helper()
	conns, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return conns
}

func TestBuiltinParsesValidatesCompiles(t *testing.T) {
	conns := mustBuiltin(t)
	if len(conns) < 16 {
		t.Fatalf("Builtin returned %d connectors, want at least 16", len(conns))
	}
	for _, c := range conns {
		t.Run(c.ID, func(t *testing.T) {
			if c.Source != patchbay.SourceBuiltin {
				t.Errorf("Source = %q, want %q", c.Source, patchbay.SourceBuiltin)
			}
			if problems := connector.Validate(c, nil); len(problems) > 0 {
				t.Errorf("Validate: %v", problems)
			}
			if _, err := connector.Compile(c); err != nil {
				t.Errorf("Compile: %v", err)
			}
			if n := c.ActionCount(); n < 5 {
				t.Errorf("%d actions, want at least 5", n)
			}
		})
	}
}

// TestBuiltinFileList keeps the explicit list in catalog.go and the
// connectors directory in step: a file that is not listed would silently
// never ship.
func TestBuiltinFileList(t *testing.T) {
	entries, err := os.ReadDir("connectors")
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, "connectors/"+e.Name())
	}
	listed := files()
	slices.Sort(onDisk)
	sorted := slices.Sorted(slices.Values(listed))
	if !slices.Equal(onDisk, sorted) {
		t.Errorf("connectors/ holds %v, catalog.go lists %v", onDisk, sorted)
	}
	// The file name is the connector ID, so that a definition is easy to find.
	conns := mustBuiltin(t)
	for i, c := range conns {
		if want := strings.TrimSuffix(filepath.Base(listed[i]), ".yaml"); c.ID != want {
			t.Errorf("%s defines connector %q, want %q", listed[i], c.ID, want)
		}
	}
}

// TestBuiltinFreshValues: callers may modify what Builtin returns (tests
// rewrite BaseURL), so two calls must not share definitions.
func TestBuiltinFreshValues(t *testing.T) {
	a, b := mustBuiltin(t), mustBuiltin(t)
	a[0].Name = "changed"
	if b[0].Name == "changed" {
		t.Error("two Builtin calls share connector values")
	}
}

// TestCatalogConventions checks the house rules of the catalog that the
// definition format does not enforce.
func TestCatalogConventions(t *testing.T) {
	vocabulary := map[string]bool{
		"communication": true, "developer-tools": true, "productivity": true, "crm": true,
		"project-management": true, "payments": true, "e-commerce": true, "calendar": true,
		"email": true, "support": true, "database": true, "marketing": true,
	}
	placeholder := regexp.MustCompile(`\{([^}]+)\}`)
	for _, c := range mustBuiltin(t) {
		t.Run(c.ID, func(t *testing.T) {
			if c.Description == "" || len(c.Categories) == 0 {
				t.Error("connector needs a description and at least one category")
			}
			for _, cat := range c.Categories {
				if !vocabulary[cat] {
					t.Errorf("category %q is not in the catalog vocabulary", cat)
				}
			}
			if !strings.HasPrefix(c.BaseURL, "https://") {
				t.Errorf("baseUrl %q is not https", c.BaseURL)
			}
			if len(c.Auth) == 0 {
				t.Error("every built-in SaaS connector authenticates")
			}
			reads, writes := 0, 0
			for _, r := range c.Resources {
				if r.Description == "" {
					t.Errorf("resource %s has no description", r.ID)
				}
				for _, a := range r.Actions {
					if a.Description == "" {
						t.Errorf("action %s has no description", a.ID)
					}
					if a.IsReadOnly() {
						reads++
						if a.IsDestructive() {
							t.Errorf("action %s is both readOnly and destructive", a.ID)
						}
						if !a.IsIdempotent() {
							t.Errorf("read-only action %s should be idempotent", a.ID)
						}
					} else {
						writes++
					}
					if a.Method == "DELETE" && !a.IsDestructive() {
						t.Errorf("DELETE action %s is not destructive", a.ID)
					}
				}
			}
			if reads == 0 || writes == 0 {
				t.Errorf("%d read and %d write actions, want both", reads, writes)
			}
			for _, m := range placeholder.FindAllStringSubmatch(c.BaseURL, -1) {
				for _, s := range c.Auth {
					found := false
					for _, f := range s.Fields {
						found = found || (f.Name == m[1] && !f.IsSecret() && f.Pattern != "")
					}
					if !found {
						t.Errorf("baseUrl placeholder {%s} has no non-secret field with a pattern in the %s scheme", m[1], s.Type)
					}
				}
			}
		})
	}
}
