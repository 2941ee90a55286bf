// Package upstream is the client for connectors backed by an upstream MCP
// server (API §11.6): it lists the server's tools, maps them to a
// patchbay.Connector, and calls one tool with an end user's credential.
//
// Every request goes through the SSRF-guarded *http.Client that the caller
// passes to New (§15). Plaintext credentials never outlive the call that
// supplied them: a cached upstream session holds no secrets, because each
// HTTP request takes its headers from the context of the call that sends it.
package upstream
