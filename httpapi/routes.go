package httpapi

// routes lists every management endpoint.
func (h *Handler) routes() {
	h.api("POST", "/api/servers", anyPrincipal, h.createServer)
	h.api("GET", "/api/servers", anyPrincipal, h.listServers)
	h.api("GET", "/api/servers/{serverId}", anyPrincipal, h.getServer)
	h.api("PUT", "/api/servers/{serverId}", anyPrincipal, h.updateServer)
	h.api("DELETE", "/api/servers/{serverId}", anyPrincipal, h.deleteServer)
	h.api("POST", "/api/servers/{serverId}/regenerate-token", anyPrincipal, h.regenerateToken)

	h.api("POST", "/api/keys", adminOnly, h.createKey)
	h.api("GET", "/api/keys", adminOnly, h.listKeys)
	h.api("DELETE", "/api/keys/{keyId}", adminOnly, h.deleteKey)

	h.api("POST", "/api/users/{userId}/token", adminOnly, h.mintToken)

	h.api("GET", "/api/account", adminOnly, h.getAccount)
	h.api("PUT", "/api/account", adminOnly, h.updateAccount)
	h.api("POST", "/api/account/jwt-secret/rotate", adminOnly, h.rotateJWTSecret)

	h.api("GET", "/api/audit", adminOnly, h.listAudit)

	h.api("GET", "/api/connectors", anyPrincipal, h.listConnectors)
	h.api("POST", "/api/connectors", adminOnly|yamlBody, h.createConnector)
	h.api("GET", "/api/connectors/{connectorId}", anyPrincipal, h.getConnector)
	h.api("PUT", "/api/connectors/{connectorId}", adminOnly|yamlBody, h.updateConnector)
	h.api("DELETE", "/api/connectors/{connectorId}", adminOnly, h.deleteConnector)
	h.api("POST", "/api/connectors/{connectorId}/refresh", adminOnly, h.refreshConnector)

	h.api("GET", "/api/credentials", anyPrincipal, h.listCredentials)
	h.api("POST", "/api/credentials", anyPrincipal, h.createCredential)
	h.api("GET", "/api/credentials/{credentialId}", anyPrincipal, h.getCredential)
	h.api("DELETE", "/api/credentials/{credentialId}", anyPrincipal, h.deleteCredential)
	h.api("POST", "/api/connectors/{connectorId}/credentials", anyPrincipal, h.connectCredential)
	h.api("GET", "/api/connectors/{connectorId}/credentials/metadata", anyPrincipal, h.credentialMetadata)

	h.api("GET", "/api/connectors/{connectorId}/oauth-app", adminOnly, h.getOAuthApp)
	h.api("PUT", "/api/connectors/{connectorId}/oauth-app", adminOnly, h.putOAuthApp)
	h.api("DELETE", "/api/connectors/{connectorId}/oauth-app", adminOnly, h.deleteOAuthApp)
}
