// Package gateway is the MCP face (§6-§10 of the contract): the routes under
// /mcp, the transport checks, authentication and effective-user resolution,
// rate limiting and restrictions, the eight meta tools and direct mode, on
// the official go-sdk streamable-HTTP handler in stateless mode. One
// *mcp.Server is built per (server, configuration version, catalog version)
// and reused; per-request facts travel in the request context.
package gateway
