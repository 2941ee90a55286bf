// Package oauth owns end users' credentials: it validates and seals new
// credentials, runs the browser flows that create them (the OAuth connect
// flow with PKCE and the credential form, API.md §13), and hands the
// connector runtime fresh credential material, refreshing OAuth tokens under
// single-flight (§13.5).
//
// Plaintext secrets exist only for the duration of one call: credentials are
// stored sealed with record ID = credential ID, PKCE verifiers with record ID
// = flow ID, and nothing here caches an opened secret. The browser face
// (/oauth/...) is unauthenticated: a flow ID is the capability, a CSRF cookie
// guards its single use, and the redirect URI is the one checked (§13.3) when
// the flow was created, so the handler can never redirect anywhere else.
package oauth
