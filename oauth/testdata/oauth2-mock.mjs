// Starts the third-party oauth2-mock-server (package directory in argv[2])
// on a free loopback port and prints "listening <port>". It behaves as the
// package does (any client, JWT access tokens, PKCE checked, a new refresh
// token on every grant), plus one thing a real provider does: a call to
// /revoke revokes every refresh token issued so far, so the next refresh
// with one of them answers 400 invalid_grant.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const pkg = process.argv[2];
const { OAuth2Server } = await import(pathToFileURL(path.join(pkg, 'dist', 'index.js')).href);

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

const issued = new Set();
const revoked = new Set();
server.service.on('beforeRevoke', () => {
  for (const t of issued) revoked.add(t);
});
server.service.on('beforeResponse', (resp, req) => {
  if (req.body.grant_type === 'refresh_token' && revoked.has(req.body.refresh_token)) {
    resp.statusCode = 400;
    resp.body = { error: 'invalid_grant' };
    return;
  }
  if (resp.body && resp.body.refresh_token) issued.add(resp.body.refresh_token);
});

await server.start(0, '127.0.0.1');
console.log(`listening ${server.address().port}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
