// Package catalog provides Patchbay's built-in connectors: REST definitions
// of popular SaaS platforms (§11.1), embedded as YAML and returned, parsed
// and validated, by Builtin.
//
// The definitions follow each platform's public API reference for methods,
// paths and parameter names; their names and descriptions are written for a
// model choosing a tool and feed the lexical ranking of §7.8.
package catalog
