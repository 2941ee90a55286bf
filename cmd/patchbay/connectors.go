package main

import "github.com/spf13/cobra"

func connectorsCmd(e *env) *cobra.Command {
	return &cobra.Command{Use: "connectors", Short: "Validate connector definitions and import OpenAPI documents offline"}
}
