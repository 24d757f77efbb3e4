import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Port, Principal } from '../../kernel/index.ts';
import { rpcError } from './guard.ts';

/**
 * Optional OAuth 2.1 resource-server mode: access tokens are JWTs from an external issuer, checked against its JWKS.
 * The JWT `sub` names the Countersign agent the token acts for.
 */
export interface OAuthOptions {
  issuer: string;
  /** The audience the tokens must carry. Default: this server's resource identifier, `<publicUrl>/mcp`. */
  audience?: string;
  /** The issuer's JWKS. Default: `<issuer>/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** Pinned so a token cannot pick a weaker algorithm (or `none`). */
  algorithms?: string[];
  /** The JWT header `typ` access tokens must carry (RFC 9068: `at+jwt`, the default), so an ID token is not one. */
  tokenType?: string;
  /** Scopes (the `scope` or `scp` claim) every access token must hold. Default: `mcp`. */
  requiredScopes?: string[];
  /**
   * Maps the JWT subject (an agent name) to its principal; null when there is no such active agent. The kernel has no
   * op for this yet, so without it every JWT is refused with a message saying so (fail closed).
   */
  principalFor?(subject: string): Promise<Principal | null>;
  /** For tests: a key set instead of fetching `jwksUrl`. */
  keys?: JWTVerifyGetKey;
}

/** The built-in authorization server's access tokens: the agent (by name) a token acts for, or null. */
export interface BuiltinTokens {
  verify(token: string): Promise<string | null>;
  principalFor(name: string): Promise<Principal | null>;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; response: Response };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Builds the authenticator once. Every request is authenticated again (no cache), so a revoked token stops working
 * at once. Failures are 401 with `WWW-Authenticate` pointing at the RFC 9728 metadata, per the MCP authorization spec.
 */
export function bearerAuthenticator(port: Port, publicUrl: string, oauth?: OAuthOptions, builtin?: BuiltinTokens): (req: Request) => Promise<AuthResult> {
  const metadataUrl = `${publicUrl.replace(/\/$/, '')}/.well-known/oauth-protected-resource`;
  const jwks = oauth ? (oauth.keys ?? createRemoteJWKSet(new URL(oauth.jwksUrl ?? `${oauth.issuer.replace(/\/$/, '')}/.well-known/jwks.json`))) : null;

  const refuse = (message: string, error?: 'invalid_token' | 'invalid_request'): AuthResult => {
    const params = [`resource_metadata="${metadataUrl}"`];
    if (error) params.push(`error="${error}"`, `error_description="${message.replace(/"/g, "'")}"`);
    return { ok: false, response: rpcError(401, -32001, `Unauthorized: ${message}`, { 'www-authenticate': `Bearer ${params.join(', ')}` }) };
  };

  async function viaJwt(token: string): Promise<AuthResult> {
    if (!oauth || !jwks) return refuse('the bearer token is not a valid agent token', 'invalid_token');
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: oauth.issuer,
        audience: oauth.audience ?? `${publicUrl.replace(/\/$/, '')}/mcp`,
        algorithms: oauth.algorithms ?? ['RS256', 'ES256', 'EdDSA'],
        // An access token that never expires is a password that cannot be changed: exp is required.
        requiredClaims: ['exp', 'sub'],
        typ: oauth.tokenType ?? 'at+jwt',
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') return refuse('the access token has no subject naming an agent', 'invalid_token');
      const granted = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp.map(String) : []);
      const missing = (oauth.requiredScopes ?? ['mcp']).filter((scope) => !granted.has(scope));
      if (missing.length > 0) return refuse(`the access token lacks the scope ${missing.join(' ')}; ask ${oauth.issuer} for a token with it`, 'invalid_token');
      if (!oauth.principalFor) return refuse('OAuth tokens cannot be mapped to agents on this server yet; use an agent token from `countersign agent add`', 'invalid_token');
      const principal = await oauth.principalFor(payload.sub);
      if (!principal) return refuse(`the access token's subject "${payload.sub}" is not an active Countersign agent`, 'invalid_token');
      return { ok: true, principal };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return refuse(`the access token was refused (${reason}); get a new one from ${oauth.issuer}`, 'invalid_token');
    }
  }

  return async (req) => {
    const header = req.headers.get('authorization');
    if (!header) return refuse('send "Authorization: Bearer <agent token>"; create a token with `countersign agent add NAME --owner EMAIL`');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return refuse('the Authorization header must be "Bearer <token>"', 'invalid_request');
    const token = match[1];
    if (JWT_SHAPE.test(token) && oauth) return viaJwt(token);
    if (builtin && !token.startsWith('cs_agent_')) {
      const agent = await builtin.verify(token);
      const principal = agent ? await builtin.principalFor(agent) : null;
      if (principal) return { ok: true, principal };
      if (agent) return refuse('this connection was disconnected (its agent was revoked); connect again from your app', 'invalid_token');
      return refuse('the access token is invalid, expired or revoked, or is for another resource; sign in again from your app', 'invalid_token');
    }
    const principal = (await port.send('kernel', { op: 'agent.authenticate', token })) as Principal | null;
    if (!principal) return refuse('the agent token is invalid or was revoked; ask an operator for a new one (`countersign agent add`)', 'invalid_token');
    return { ok: true, principal };
  };
}
