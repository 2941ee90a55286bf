package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/catalog"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// loadBuiltins returns the embedded catalog plus every definition file in
// --connectors-dir (§11.4). An invalid file stops start-up.
func loadBuiltins(cfg Config, guard *ssrf.Guard) ([]*patchbay.Connector, error) {
	builtins, err := catalog.Builtin()
	if err != nil {
		return nil, err
	}
	if cfg.ConnectorsDir == "" {
		return builtins, nil
	}
	entries, err := os.ReadDir(cfg.ConnectorsDir)
	if err != nil {
		return nil, usageErr("--connectors-dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	opts := &connector.ValidateOptions{AllowHTTP: allowHTTP(guard)}
	for _, n := range names {
		path := filepath.Join(cfg.ConnectorsDir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErr("%s: %v", path, err)
		}
		c, err := connector.Parse(data, opts)
		if err != nil {
			return nil, usageErr("%s: %s", path, describeProblems(err))
		}
		c.Source = patchbay.SourceBuiltin
		builtins = append(builtins, c)
	}
	return builtins, nil
}

// allowHTTP lets connectors use plain http only for allowlisted hosts.
func allowHTTP(guard *ssrf.Guard) func(host string) bool {
	return func(host string) bool {
		return guard.CheckURL(&url.URL{Scheme: "http", Host: host}) == nil
	}
}

// describeProblems renders a definition error with every problem.
func describeProblems(err error) string {
	d := patchbay.ErrorDetails(err)
	list, _ := d["errors"].([]connector.FieldError)
	if len(list) == 0 {
		return patchbay.ErrorMessage(err)
	}
	var b strings.Builder
	for _, p := range list {
		fmt.Fprintf(&b, "\n  %s: %s", p.Field, p.Message)
	}
	return b.String()
}

// checkShadowing stops start-up when a built-in ID equals an existing custom
// connector (§11.4).
func checkShadowing(ctx context.Context, db interface {
	CustomConnectorAccounts(ctx context.Context, id string) ([]string, error)
}, builtins []*patchbay.Connector) error {
	for _, c := range builtins {
		accts, err := db.CustomConnectorAccounts(ctx, c.ID)
		if err != nil {
			return err
		}
		if len(accts) > 0 {
			return usageErr("built-in connector %q collides with custom connectors of accounts %s; rename or delete them first",
				c.ID, strings.Join(accts, ", "))
		}
	}
	return nil
}
