import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack, freePort, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { INITIALIZE, rawPost } from '../support/mcp-client.ts';

/**
 * OAuth 2.1 resource-server mode: access tokens from a configured issuer, verified through its JWKS with pinned
 * algorithms and a checked audience; the subject names the agent. Agent tokens keep working beside it.
 */

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'countersign-test';
let stack: Stack;
let jwks: Server;
let privateKey: CryptoKey;
let agentToken: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(port, '127.0.0.1', () => resolve()));
  stack = await startStack({
    config: `oauth:\n  issuer: ${ISSUER}\n  audience: ${AUDIENCE}\n  jwksUrl: http://127.0.0.1:${port}/jwks.json\n  algorithms: [ES256]\npolicy:\n  default: allow\n`,
    connectors: [createTestConnector()],
  });
  ({ token: agentToken } = await stack.addAgent('oauth-agent', 'owner@example.com'));
  await stack.addAgent('gone-agent', 'owner@example.com');
  await stack.port.send('kernel', { op: 'agent.revoke', name: 'gone-agent' });
});
afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

const token = (claims: { sub?: string; aud?: string; iss?: string; exp?: string | null; typ?: string; scope?: string }) => {
  const jwt = new SignJWT({ scope: claims.scope ?? 'openid mcp' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: claims.typ ?? 'at+jwt' })
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setSubject(claims.sub ?? 'oauth-agent')
    .setIssuedAt();
  if (claims.exp !== null) jwt.setExpirationTime(claims.exp ?? '5m');
  return jwt.sign(privateKey);
};

const initialize = (bearer: string) => rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${bearer}` });

describe('OAuth resource-server mode', () => {
  it('accepts an access token from the issuer whose subject is an active agent', async () => {
    const response = await initialize(await token({}));
    expect(response.status).toBe(200);
  });

  it('refuses a wrong audience, another issuer, an expired token and a revoked agent, with WWW-Authenticate', async () => {
    for (const bad of [{ aud: 'someone-else' }, { iss: 'https://evil.test' }, { exp: '1s ago' }, { sub: 'gone-agent' }, { sub: 'nobody' }]) {
      const response = await initialize(await token(bad));
      expect(response.status, JSON.stringify(bad)).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('resource_metadata=');
    }
  });

  it('requires exp, the access-token typ and the mcp scope', async () => {
    for (const [bad, why] of [
      [{ exp: null }, /"exp" claim/],
      [{ typ: 'JWT' }, /typ/],
      [{ scope: 'openid profile' }, /lacks the scope mcp/],
    ] as const) {
      const response = await initialize(await token(bad));
      expect(response.status, JSON.stringify(bad)).toBe(401);
      expect((await response.json()).error.message).toMatch(why);
    }
  });

  it('keeps agent tokens working beside OAuth', async () => {
    expect((await initialize(agentToken)).status).toBe(200);
  });

  it('publishes RFC 9728 metadata naming the issuer', async () => {
    const metadata = await (await fetch(`${stack.url}/.well-known/oauth-protected-resource`)).json();
    expect(metadata).toMatchObject({ authorization_servers: [ISSUER], scopes_supported: ['mcp'] });
  });
});
