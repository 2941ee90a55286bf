package openapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// corpusDir holds real-world documents copied from their publishers
// (see its README.md for provenance and what each one covers).
const corpusDir = "../../shared/testdata/openapi"

// TestImportCorpus imports every document of the corpus and checks that the
// result is a valid definition (connector.Validate, and a JSON round trip
// through connector.Parse), that at least 90% of the operations became
// actions, and that every other operation is named by a "skipped" warning.
func TestImportCorpus(t *testing.T) {
	// operations: the README's count (every HTTP method under paths);
	// actions and warnings pin the current mapping.
	want := map[string]struct{ operations, actions, warnings int }{
		"box-platform.json":                {296, 279, 18},
		"discord-api.json":                 {242, 239, 16},
		"figma-rest.yaml":                  {47, 47, 2},
		"notion-api.json":                  {24, 24, 0},
		"oai-petstore-expanded.yaml":       {4, 4, 0},
		"oai-petstore-swagger2.yaml":       {3, 3, 1},
		"oai-petstore.yaml":                {3, 3, 1},
		"sendgrid-mail.json":               {3, 3, 1},
		"sendgrid-marketing-contacts.json": {15, 15, 0},
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, file := range files {
		name := filepath.Base(file)
		if ext := filepath.Ext(name); ext != ".json" && ext != ".yaml" && ext != ".yml" {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res := mustImport(t, data, nil)
			c := res.Connector
			for _, p := range connector.Validate(c, nil) {
				t.Errorf("invalid definition: %s: %s", p.Path, p.Message)
			}
			doc, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := connector.Parse(doc, nil); err != nil {
				t.Errorf("connector.Parse of the imported definition: %v (%v)", err, patchbay.ErrorDetails(err))
			}

			skipped := 0
			for _, w := range res.Warnings {
				if strings.HasPrefix(w, "operation ") && strings.Contains(w, " skipped: ") &&
					!strings.Contains(strings.SplitN(w, " skipped: ", 2)[0], ": ") {
					skipped++
				}
			}
			actions := c.ActionCount()
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectations for %s; add it to the table", name)
			}
			if actions+skipped != w.operations {
				t.Errorf("%d actions + %d skipped operations != %d operations", actions, skipped, w.operations)
			}
			if actions*10 < w.operations*9 {
				t.Errorf("only %d of %d operations mapped (< 90%%)", actions, w.operations)
			}
			if actions != w.actions || len(res.Warnings) != w.warnings {
				t.Errorf("got %d actions, %d warnings; want %d, %d\n%s", actions, len(res.Warnings), w.actions, w.warnings,
					strings.Join(res.Warnings, "\n"))
			}
			checkSchemas(t, c)
		})
	}
	if seen != len(want) {
		t.Errorf("corpus has %d documents, the table %d", seen, len(want))
	}
}

// checkSchemas asserts what the importer promises beyond §11.1: parameter
// schemas are self-contained (no $ref, no $defs, no $id) and bounded in size.
func checkSchemas(t *testing.T, c *patchbay.Connector) {
	t.Helper()
	for _, r := range c.Resources {
		for _, a := range r.Actions {
			s := string(a.Parameters)
			for _, kw := range []string{`"$ref"`, `"$defs"`, `"$id"`, `"$schema"`, `"example"`} {
				if strings.Contains(s, kw) {
					t.Errorf("%s: parameters contain %s", a.ID, kw)
				}
			}
			if len(s) > maxParamsSize {
				t.Errorf("%s: parameters are %d bytes (> %d)", a.ID, len(s), maxParamsSize)
			}
		}
	}
}
