// Package policy decides whether a server's restrictions (API contract §8)
// permit a connector, an action or an end user. Compile turns the stored
// restrictions into lookup sets once, when a server configuration is loaded,
// so that the checks on the MCP hot path are map lookups that allocate
// nothing. Everything here is pure: no I/O, no clock, no state after Compile.
package policy
