import { randomBytes } from 'node:crypto';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import type { JsonObject } from '../../kernel/index.ts';
import type { OAuthStore } from '../../approval-web/store.ts';
import { storeAdapter } from './adapter.ts';

/**
 * The built-in OAuth 2.1 authorization server, on panva's oidc-provider (OpenID Certified, by the author of `jose`,
 * maintained since 2015). We chose it over the MCP SDK's server auth helpers because it already implements, and is
 * tested against the specs for, everything the MCP authorization spec asks of an authorization server: RFC 8414
 * metadata, PKCE (S256 only), refresh-token rotation whose reuse revokes the whole grant, RFC 7591 registration, Client
 * ID Metadata Documents, RFC 8707 resource indicators and RFC 9207 `iss`. The SDK's helpers leave rotation, reuse
 * detection, resource binding and CIMD to the provider you write, and are Express handlers: as much glue, more protocol.
 *
 * Access tokens are opaque and looked up on every call (`verify`), not JWTs: Disconnect and a replayed refresh token
 * must stop a connection at once, and a JWT would stay valid until it expires. The lookup is one indexed row, and
 * the MCP gateway already asks the kernel about the agent on every call.
 */

export const SCOPE = 'mcp';
const ACCESS_TOKEN_SECONDS = 3600;
/** How long a consent (a grant, the family of a connection's tokens) lives unused. */
export const GRANT_SECONDS = 90 * 86400;

export interface ProviderOptions {
  /** This server's origin, e.g. https://countersign.example.com: the issuer, and the base of the MCP resource. */
  publicUrl: string;
  /**
   * The private ES256 JWK that signs ID tokens (for a client that asks for openid) and is published at /oauth/jwks:
   * keys/oauth-signing.jwk.json (gateway/keys.ts), the same in every process and replica, so what one signs the others'
   * JWKS verifies, and a restart does not orphan the ID tokens already handed out.
   */
  signingKey: JsonObject;
  store: OAuthStore;
  /** Whether a connection's agent is still active (a revoked agent's tokens are dead). */
  agentActive(name: string): Promise<boolean>;
  /** Fetches Client ID Metadata Documents: the SSRF-safe egress (net/egress.ts). */
  fetch(url: string, init: RequestInit): Promise<Response>;
}

/** The size a Client ID Metadata Document may have (the draft suggests clients keep it under 5 KiB). */
export const METADATA_DOCUMENT_LIMIT = 5 * 1024;

export async function createProvider(options: ProviderOptions): Promise<{ provider: Provider; issuer: string; resource: string }> {
  const issuer = new URL(options.publicUrl).origin;
  const resource = `${issuer}/mcp`;
  const https = issuer.startsWith('https:');
  const cookieKeys = await cookieSecrets(options.store);

  const policy = interactionPolicy.base();
  // Every authorization is a fresh consent: a browser that connected one client must not connect the next unasked.
  policy.get('login')!.checks.add(
    new interactionPolicy.Check('every_time', 'each connection is consented to with a passkey', (ctx) =>
      (ctx as { oidc: { result?: { login?: unknown } } }).oidc.result?.login ? false : interactionPolicy.Check.REQUEST_PROMPT,
    ),
  );

  const provider = new Provider(issuer, {
    adapter: storeAdapter(options.store),
    jwks: { keys: [{ ...options.signingKey, alg: 'ES256', use: 'sig' }] },
    async findAccount(_ctx: unknown, sub: string) {
      if (!(await options.agentActive(sub))) return undefined;
      return { accountId: sub, claims: async () => ({ sub }) };
    },
    scopes: ['openid', 'offline_access', SCOPE],
    claims: { openid: ['sub'] },
    responseTypes: ['code'],
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', id_token_signed_response_alg: 'ES256' },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    ttl: { AccessToken: ACCESS_TOKEN_SECONDS, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: GRANT_SECONDS, RefreshToken: 30 * 86400, IdToken: 600 },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/connect/${interaction.uid}`, policy },
    cookies: {
      keys: cookieKeys,
      names: { session: 'cs_oauth_session', interaction: 'cs_oauth_interaction', resume: 'cs_oauth_resume' },
      long: { httpOnly: true, sameSite: 'lax', secure: https },
      short: { httpOnly: true, sameSite: 'lax', secure: https },
    },
    routes: {
      authorization: '/oauth/authorize',
      token: '/oauth/token',
      registration: '/oauth/register',
      revocation: '/oauth/revoke',
      jwks: '/oauth/jwks',
      userinfo: '/oauth/userinfo',
      end_session: '/oauth/logout',
      introspection: '/oauth/introspect',
      pushed_authorization_request: '/oauth/par',
      code_verification: '/oauth/device',
      device_authorization: '/oauth/device/auth',
      backchannel_authentication: '/oauth/backchannel',
      challenge: '/oauth/challenge',
      credential: '/oauth/credential',
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: false },
      // RFC 7591, open as the MCP spec expects of clients that have no metadata document; a client gets nothing until a
      // person consents to it with a passkey.
      registration: { enabled: true },
      revocation: { enabled: true },
      clientIdMetadataDocument: { enabled: true, ack: 'draft-02', cacheDuration: { min: 30, max: 3600 } },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx: unknown, indicator: string) {
          // RFC 8707: tokens are for this MCP endpoint and nothing else.
          if (indicator !== resource) throw new errors.InvalidTarget!(`this server issues tokens only for ${resource}`);
          return { scope: SCOPE, audience: resource, accessTokenTTL: ACCESS_TOKEN_SECONDS, accessTokenFormat: 'opaque' };
        },
      },
    },
    fetch: (url: string, init: RequestInit) => options.fetch(url, init),
    fetchResponseBodyLimits: { 'client_id metadata document': METADATA_DOCUMENT_LIMIT },
    async renderError(ctx: { type: string; body: unknown }, out: Record<string, string>) {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `Countersign could not finish this authorization: ${out.error}${out.error_description ? `: ${out.error_description}` : ''}\nGo back to the app you were connecting and start again.\n`;
    },
  });
  // Koa decides whether the request is https from X-Forwarded-Proto, which mount.ts sets from publicUrl, never from the client.
  provider.proxy = true;
  // A 500 inside the provider says only "server_error" to the client: the operator's log gets the cause.
  provider.on('server_error', (_ctx, error) => console.error(`countersign: oauth: ${(error as Error).stack ?? String(error)}`));
  return { provider, issuer, resource };
}

/** Cookie signing keys shared by every replica (stored once in the web tables), so a consent can finish on any of them. */
async function cookieSecrets(store: OAuthStore): Promise<string[]> {
  const found = await store.find('CookieKeys', 'v1');
  if (found && Array.isArray(found.payload.keys)) return found.payload.keys as string[];
  await store.upsert('CookieKeys', 'v1', { keys: [randomBytes(32).toString('base64url')] }, null, null, null);
  return ((await store.find('CookieKeys', 'v1'))!.payload.keys as string[]);
}
