import { Hono, type Context } from 'hono';
import type { OAuthOptions } from './auth.ts';

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for `/mcp`, served at `/.well-known/oauth-protected-resource`.
 * MCP clients follow the `resource_metadata` link of a 401 here to learn which authorization server issues tokens.
 * Without OAuth mode there is no authorization server: agents use tokens from `countersign agent add`.
 */
export function protectedResourceMetadata(publicUrl: string, oauth?: Pick<OAuthOptions, 'issuer' | 'requiredScopes'>): Record<string, unknown> {
  const base = publicUrl.replace(/\/$/, '');
  return {
    resource: `${base}/mcp`,
    authorization_servers: oauth ? [oauth.issuer] : [],
    ...(oauth ? { scopes_supported: oauth.requiredScopes ?? ['mcp'] } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Countersign MCP gateway',
    resource_documentation: `${base}/`,
  };
}

/** The Hono handler for the metadata route; mount it with `app.get('/.well-known/oauth-protected-resource', ...)`. */
export function metadataHandler(publicUrl: string, oauth?: Pick<OAuthOptions, 'issuer' | 'requiredScopes'>): (c: Context) => Response {
  const body = protectedResourceMetadata(publicUrl, oauth);
  return (c) => c.json(body, 200, { 'cache-control': 'max-age=3600' });
}

/** A Hono sub-app holding the metadata route (RFC 9728 also allows the path suffixed with the resource path). */
export function oauthMetadataRoute(options: { publicUrl: string; oauth?: Pick<OAuthOptions, 'issuer' | 'requiredScopes'> }): Hono {
  const handler = metadataHandler(options.publicUrl, options.oauth);
  const app = new Hono();
  app.get('/.well-known/oauth-protected-resource', handler);
  app.get('/.well-known/oauth-protected-resource/mcp', handler);
  return app;
}
