import { createEdgeApp } from '../../gateway/edge-app.ts';
import { DEFAULT_LIMITS } from '../../gateway/edge.ts';
import { generateOAuthSigningKey } from '../../gateway/keys.ts';
import { createRouter, type JsonObject } from '../../kernel/index.ts';

/**
 * Every route the server answers, read from the app itself rather than typed out: the edge app (gateway/edge-app.ts:
 * /mcp, /healthz, /metrics, the metadata and checkpoint routes, and the approval web app with its device API and audit
 * dashboard) is built with a router that answers nothing, and Hono lists what was registered. A route added later is
 * fuzzed without anyone remembering to add it here.
 *
 * @example await edgeRoutes() // ['/', '/api/v1/devices/*', '/audit', '/audit/requests/:id', '/enroll/:token', ...]
 */
export async function edgeRoutes(): Promise<string[]> {
  const router = createRouter(async () => {});
  const edge = createEdgeApp({
    settings: { publicUrl: 'http://localhost:8787', host: '127.0.0.1', listenPort: 8787, sandbox: true, holdSeconds: 0, auth: 'builtin', oauth: undefined, rateLimitPerMinute: undefined, limits: DEFAULT_LIMITS, allowedHosts: undefined, vapidPublicKey: null, oauthSigningKey: (await generateOAuthSigningKey()) as JsonObject },
    router,
    store: {} as never,
    health: async () => ({}),
  });
  const paths = new Set(edge.app.routes.map((r) => r.path).filter((p) => p !== '/*' && p !== '*'));
  await edge.close();
  return [...paths].sort();
}

/** A route with each parameter (`:id`, a trailing `*`) replaced by `value`. */
export const fillRoute = (route: string, value: string) => route.replace(/:[a-z]+|\*$/gi, value);
