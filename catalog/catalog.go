package catalog

import (
	"embed"
	"fmt"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// The files are listed one by one, here and in files, so that adding a
// connector is a reviewed change of this list rather than a side effect of
// dropping a file into the directory.
//
//go:embed connectors/airtable.yaml connectors/asana.yaml connectors/github.yaml
//go:embed connectors/gmail.yaml connectors/google-calendar.yaml connectors/hubspot.yaml
//go:embed connectors/intercom.yaml connectors/jira.yaml connectors/linear.yaml
//go:embed connectors/mailchimp.yaml connectors/notion.yaml connectors/salesforce.yaml
//go:embed connectors/sendgrid.yaml connectors/shopify.yaml connectors/slack.yaml
//go:embed connectors/stripe.yaml connectors/zendesk.yaml
var definitions embed.FS

// files returns the embedded definition files in catalog order.
func files() []string {
	return []string{
		"connectors/slack.yaml",
		"connectors/github.yaml",
		"connectors/notion.yaml",
		"connectors/hubspot.yaml",
		"connectors/linear.yaml",
		"connectors/jira.yaml",
		"connectors/stripe.yaml",
		"connectors/shopify.yaml",
		"connectors/google-calendar.yaml",
		"connectors/gmail.yaml",
		"connectors/salesforce.yaml",
		"connectors/asana.yaml",
		"connectors/airtable.yaml",
		"connectors/zendesk.yaml",
		"connectors/intercom.yaml",
		"connectors/sendgrid.yaml",
		"connectors/mailchimp.yaml",
	}
}

// Builtin parses and validates every built-in connector and returns them in
// catalog order with Source set to patchbay.SourceBuiltin. Each call returns
// fresh values that the caller may keep or modify. An error means a broken
// build (a definition that does not parse or validate, or a duplicate ID);
// it names the file.
func Builtin() ([]*patchbay.Connector, error) {
	names := files()
	out := make([]*patchbay.Connector, 0, len(names))
	seen := make(map[string]string, len(names))
	for _, name := range names {
		data, err := definitions.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", name, err)
		}
		c, err := connector.Parse(data, nil)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", name, err)
		}
		// Parse validates too; checking again keeps Builtin correct should
		// Parse ever stop doing so.
		if problems := connector.Validate(c, nil); len(problems) > 0 {
			return nil, fmt.Errorf("catalog: %s: %w", name, connector.ProblemsError(problems))
		}
		if first, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("catalog: %s: duplicate connector id %q (also in %s)", name, c.ID, first)
		}
		seen[c.ID] = name
		c.Source = patchbay.SourceBuiltin
		out = append(out, c)
	}
	return out, nil
}
