//go:build tools

// Package deps pins the chosen third-party modules until code imports them.
package deps

import (
	_ "github.com/getkin/kin-openapi/openapi2conv"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/oauth2"
	_ "modernc.org/sqlite"
)
