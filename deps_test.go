package patchbay_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/patchbay-mcp/patchbay"

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var all []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p)
	}
	return all
}

// TestDependencyRules enforces the dependency direction of
// docs/architecture.md, so that breaking it fails CI instead of waiting for
// review.
func TestDependencyRules(t *testing.T) {
	all := listPackages(t)
	adapters := map[string]bool{module + "/sqlite": true, module + "/postgres": true, module + "/redis": true}
	for _, p := range all {
		rel := strings.TrimPrefix(p.ImportPath, module)
		t.Run(strings.TrimPrefix(rel, "/")+"/", func(t *testing.T) {
			for _, imp := range p.Imports {
				switch {
				case p.ImportPath == module && strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
					t.Errorf("the domain package imports %s: it may use the standard library only", imp)
				case rel == "/gateway" && imp == module+"/httpapi", rel == "/httpapi" && imp == module+"/gateway":
					t.Errorf("%s imports %s: the two faces never import each other", rel, imp)
				case adapters[imp] && rel != "/cmd/patchbay" && !strings.HasPrefix(rel, "/internal/") && !adapters[p.ImportPath]:
					t.Errorf("%s imports the adapter %s: only cmd/patchbay (wire.go) may", rel, imp)
				}
			}
			for _, dep := range p.Deps {
				if p.ImportPath == module && strings.HasPrefix(dep, module+"/") {
					t.Errorf("the domain package depends on %s", dep)
				}
			}
		})
	}
}

// TestPackagesDocumented requires a package comment everywhere: its first
// sentence states the package's one job (STYLE.md rule 12).
func TestPackagesDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package comment (add a doc.go)", p.ImportPath)
		}
	}
}
