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
}
