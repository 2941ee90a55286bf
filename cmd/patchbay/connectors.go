package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
	"github.com/patchbay-mcp/patchbay/openapi"
)

func connectorsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "connectors", Short: "Validate connector definitions and import OpenAPI documents offline"}
	validate := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate connector definitions (YAML or JSON); exit 1 on errors",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				data, err := os.ReadFile(path)
				if err != nil {
					return usageErr("%v", err)
				}
				c, err := connector.Parse(data, nil)
				if err != nil {
					bad++
					if _, err := fmt.Fprintf(e.stdout, "%s: invalid:%s\n", path, describeProblems(err)); err != nil {
						return err
					}
					continue
				}
				if _, err := connector.Compile(c); err != nil {
					bad++
					if _, err := fmt.Fprintf(e.stdout, "%s: invalid: %v\n", path, err); err != nil {
						return err
					}
					continue
				}
				if _, err := fmt.Fprintf(e.stdout, "%s: ok (%s, %d actions)\n", path, c.ID, c.ActionCount()); err != nil {
					return err
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d files are invalid", bad, len(args))
			}
			return nil
		},
	}
	var id, baseURL string
	imp := &cobra.Command{
		Use:   "import-openapi FILE",
		Short: "Print the connector definition of an OpenAPI 3.x or Swagger 2.0 document as YAML (§11.5)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageErr("%v", err)
			}
			res, err := openapi.Import(data, &openapi.Options{ID: id, BaseURL: baseURL})
			if err != nil {
				// The warnings say why each operation was skipped, which is
				// what the user needs when none could be imported.
				var pe *patchbay.Error
				if errors.As(err, &pe) {
					if ws, ok := pe.Details["warnings"].([]string); ok {
						for _, w := range ws {
							e.stderrf("warning: %s\n", w)
						}
					}
				}
				return fmt.Errorf("%s: %s", args[0], describeProblems(err))
			}
			if problems := connector.Validate(res.Connector, nil); len(problems) > 0 {
				return fmt.Errorf("%s: the imported definition is invalid:%s", args[0], describeProblems(connector.ProblemsError(problems)))
			}
			out, err := definitionYAML(res.Connector)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				e.stderrf("warning: %s\n", w)
			}
			_, err = e.stdout.Write(out)
			return err
		},
	}
	imp.Flags().StringVar(&id, "id", "", "connector ID (default: slug of info.title)")
	imp.Flags().StringVar(&baseURL, "base-url", "", "base URL (default: servers[0].url)")
	cmd.AddCommand(validate, imp)
	return cmd
}

// definitionYAML renders a definition as YAML with the JSON member order.
func definitionYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil { // JSON is YAML: keeps order
		return nil, err
	}
	blockStyle(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// blockStyle drops the flow style that parsing JSON leaves on every node.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
