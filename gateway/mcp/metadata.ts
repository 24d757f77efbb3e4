import { Hono, type Context } from 'hono';
import type { OAuthOptions } from './auth.ts';

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for `/mcp`, served at `/.well-known/oauth-protected-resource`.
 * MCP clients follow the `resource_metadata` link of a 401 here to learn which authorization server issues tokens:
 * Countersign's own (`builtin`, gateway/oauth/), the external issuer under `oauth:`, or both. Agent tokens from
 * `countersign agent add` work beside either.
 */
export type ExternalIssuer = Pick<OAuthOptions, 'issuer' | 'requiredScopes'>;

export function protectedResourceMetadata(publicUrl: string, oauth?: ExternalIssuer, builtinIssuer?: string): Record<string, unknown> {
  const base = publicUrl.replace(/\/$/, '');
  const servers = [...(builtinIssuer ? [builtinIssuer] : []), ...(oauth ? [oauth.issuer] : [])];
  const scopes = [...new Set([...(builtinIssuer ? ['mcp'] : []), ...(oauth ? (oauth.requiredScopes ?? ['mcp']) : [])])];
  return {
    resource: `${base}/mcp`,
    authorization_servers: servers,
    ...(servers.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Countersign MCP gateway',
    resource_documentation: `${base}/`,
  };
}

/** The Hono handler for the metadata route; mount it with `app.get('/.well-known/oauth-protected-resource', ...)`. */
export function metadataHandler(publicUrl: string, oauth?: ExternalIssuer, builtinIssuer?: string): (c: Context) => Response {
  const body = protectedResourceMetadata(publicUrl, oauth, builtinIssuer);
  return (c) => c.json(body, 200, { 'cache-control': 'max-age=3600' });
}

/** A Hono sub-app holding the metadata route (RFC 9728 also allows the path suffixed with the resource path). */
export function oauthMetadataRoute(options: { publicUrl: string; oauth?: ExternalIssuer; builtinIssuer?: string }): Hono {
  const handler = metadataHandler(options.publicUrl, options.oauth, options.builtinIssuer);
  const app = new Hono();
  app.get('/.well-known/oauth-protected-resource', handler);
  app.get('/.well-known/oauth-protected-resource/mcp', handler);
  return app;
}
