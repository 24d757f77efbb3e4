import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Provider } from 'oidc-provider';
import type { OAuthStore } from '../../approval-web/store.ts';
import type { ConnectFlow, ConnectRequest } from '../../approval-web/connect-flow.ts';
import { createProvider, GRANT_SECONDS, type ProviderOptions } from './provider.ts';

/**
 * The built-in authorization server mounted under Hono: `/oauth/*` (authorize, token, register, revoke, jwks) and the
 * RFC 8414 metadata at `/.well-known/oauth-authorization-server`. oidc-provider is a Koa app: its requests are handed
 * to it as the Node request and response the HTTP server gave Hono, with the body Hono already read (and bounded).
 */

export interface AuthorizationServer {
  issuer: string;
  /** The resource tokens are bound to: `<publicUrl>/mcp`. */
  resource: string;
  routes: Hono;
  /** The agent an access token acts for, or null when it is unknown, expired, revoked or for another resource. */
  verify(token: string): Promise<string | null>;
  /** The consent page's side of an authorization (approval-web/routes/connect.tsx). */
  connect: ConnectFlow;
}

type NodeEnv = { incoming?: IncomingMessage & { body?: unknown }; outgoing?: ServerResponse };

const hostname = (url: string) => {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
};

export function createAuthorizationServer(options: ProviderOptions & { store: OAuthStore }): AuthorizationServer {
  const issuer = new URL(options.publicUrl).origin;
  const resource = `${issuer}/mcp`;
  const proto = issuer.startsWith('https:') ? 'https' : 'http';
  const host = new URL(issuer).host;
  // Built at first use: key generation and the shared cookie keys are async, the edge app is not.
  let built: Promise<{ provider: Provider; handle: ReturnType<Provider['callback']> }> | null = null;
  const ready = () =>
    (built ??= createProvider(options).then(({ provider }) => ({ provider, handle: provider.callback() }))).catch((error: unknown) => {
      built = null;
      throw error;
    });

  async function toKoa(c: Context, path?: string): Promise<Response> {
    const env = c.env as NodeEnv | undefined;
    if (!env?.incoming || !env.outgoing) {
      return c.json({ error: 'temporarily_unavailable', error_description: 'the authorization server runs only behind the Node HTTP server' }, 503);
    }
    const { handle } = await ready();
    const incoming = env.incoming;
    // The body was bounded and read by Hono (gateway/edge.ts); oidc-provider takes it from `body` once the stream is done.
    if (c.req.method === 'POST') incoming.body = await c.req.text();
    // https or not is what publicUrl says (behind a TLS-terminating proxy the socket is plain), never what a client says.
    // Likewise the host its URLs are built on: publicUrl's (the Host guard already refused names this server is not).
    Object.assign(incoming.headers, { 'x-forwarded-proto': proto, 'x-forwarded-host': host, host });
    if (path) incoming.url = path;
    await handle(incoming, env.outgoing);
    return RESPONSE_ALREADY_SENT;
  }

  const routes = new Hono();
  // RFC 8414 at the path MCP clients try first; oidc-provider serves the same document as OpenID discovery.
  routes.get('/.well-known/oauth-authorization-server', (c) => toKoa(c, '/.well-known/openid-configuration'));
  routes.get('/.well-known/openid-configuration', (c) => toKoa(c));
  routes.use('/oauth/authorize', async (c, next) => {
    // An agent's bearer token opens nothing here: authorization takes a person with a passkey (DESIGN section 9, 5).
    if (c.req.header('authorization')) {
      return c.json({ error: 'invalid_request', error_description: 'the authorization endpoint takes no Authorization header: an agent token cannot authorize a connection, a person consents in the browser' }, 400);
    }
    return next();
  });
  routes.all('/oauth/*', (c) => toKoa(c));

  /** Koa wants Node objects to read the interaction cookie from; these carry only the headers. */
  const nodeish = (request: Request) => {
    const headers: Record<string, string> = { 'x-forwarded-proto': proto };
    request.headers.forEach((value, name) => (headers[name] = value));
    Object.assign(headers, { 'x-forwarded-proto': proto, 'x-forwarded-host': host, host });
    const req = { headers, url: new URL(request.url).pathname, method: request.method, socket: {}, connection: {} };
    const res = { getHeader: () => undefined, setHeader: () => {}, removeHeader: () => {}, headersSent: false };
    return [req, res] as const;
  };

  async function interaction(request: Request, uid: string) {
    const { provider } = await ready();
    const [req, res] = nodeish(request);
    try {
      const found = await provider.interactionDetails(req, res);
      return found.uid === uid ? { provider, found, req, res } : null;
    } catch {
      return null; // no interaction cookie, or it names nothing live
    }
  }

  const connect: ConnectFlow = {
    async details(request, uid): Promise<ConnectRequest | null> {
      const it = await interaction(request, uid);
      if (!it) return null;
      const client = await it.provider.Client.find(it.found.params.client_id);
      if (!client) return null;
      return {
        uid,
        clientId: client.clientId,
        clientName: client.clientName ?? null,
        redirectUri: String(it.found.params.redirect_uri ?? client.redirectUris[0] ?? ''),
        metadataDocument: client.clientIdMetadataDocument === true,
        resource,
      };
    },
    async approve(request, uid, agentName) {
      const it = await interaction(request, uid);
      if (!it) throw new Error('this connection request expired or was started in another browser');
      // Each connection is its own agent, so its own login: a session this browser holds from an earlier connection (as
      // another agent) is ended here, or oidc-provider would stop to ask whether to switch accounts.
      if (it.found.session?.uid) {
        await (await it.provider.Session.findByUid(it.found.session.uid))?.destroy();
        delete it.found.session;
        await it.found.save(Math.max(it.found.exp - Math.floor(Date.now() / 1000), 1));
      }
      const grant = new it.provider.Grant({ accountId: agentName, clientId: it.found.params.client_id });
      // `mcp` is both a scope clients register with and the resource's scope: grant it as either.
      grant.addOIDCScope('openid offline_access mcp');
      grant.addResourceScope(resource, 'mcp');
      const grantId = await grant.save();
      // The app beside its grant, for the Agents page and `agent list`: several apps may act as one agent, and a row
      // tied to the grant goes when its family is revoked (a replayed refresh token, Disconnect), so only live ones show.
      const clientId = String(it.found.params.client_id);
      const app = { accountId: agentName, clientId, clientName: (await it.provider.Client.find(clientId))?.clientName ?? '', redirectHost: hostname(String(it.found.params.redirect_uri ?? '')), connectedAt: new Date().toISOString() };
      await options.store.upsert('Connection', grantId, app, GRANT_SECONDS, grantId, null);
      return it.provider.interactionResult(it.req, it.res, { login: { accountId: agentName }, consent: { grantId } }, { mergeWithLastSubmission: false });
    },
    async deny(request, uid) {
      const it = await interaction(request, uid);
      if (!it) throw new Error('this connection request expired or was started in another browser');
      return it.provider.interactionResult(it.req, it.res, { error: 'access_denied', error_description: 'the person declined to connect this client' }, { mergeWithLastSubmission: false });
    },
  };

  return {
    issuer,
    resource,
    routes,
    connect,
    async verify(token) {
      const { provider } = await ready();
      const found = await provider.AccessToken.find(token);
      if (!found || !found.isValid) return null;
      const audiences = Array.isArray(found.aud) ? found.aud : found.aud ? [found.aud] : [];
      if (!audiences.includes(resource)) return null;
      void options.store.touch(found.accountId).catch(() => {});
      return found.accountId;
    },
  };
}
