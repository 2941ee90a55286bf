// Package authmeta describes what a user must supply to connect a
// connector (§7.7): per authentication scheme, the create_credential_alloy
// input schema and a sample input. Both faces render it: the MCP tool
// get_credential_metadata_alloy and GET /api/connectors/{id}/credentials/metadata.
package authmeta
