import { Hono } from 'hono';
import { CAPABILITIES, type JsonObject, type Principal, type Router } from '../kernel/index.ts';
import { createExecutions, createMcpHandler } from './mcp/index.ts';
import { oauthMetadataRoute } from './mcp/metadata.ts';
import { createApprovalWeb, remoteWebStore, type WebStore } from '../approval-web/index.ts';
import { createAuthorizationServer } from './oauth/index.ts';
import { metadataDocumentFetch } from './oauth/egress.ts';
import { createMetrics } from './metrics.ts';
import { bodyLimits, closeUnreadBodies, hostGuard } from './edge.ts';
import { clientAddressMiddleware } from '../net/proxy.ts';
import type { Resolver } from '../net/egress.ts';
import type { EdgeSettings } from './edge-settings.ts';

/**
 * The face agents and browsers see: the MCP gateway and the approval web app in one Hono app. It holds no database
 * handle, no upstream credential and no kernel private key: it reaches the kernel through its two router ports
 * (`gateway`, `web`) and its own tables through the `webdb` store. The same code runs inside the one process of
 * `--isolation none` and in the edge process of `--isolation process`; this file (and what it imports) must never
 * reach a connector's executor or a credential (test/unit/architecture.test.ts follows its imports).
 */

export { edgeConfig, edgeSettings, type EdgeConfig, type EdgeSettings, type EdgeStart } from './edge-settings.ts';

export interface EdgeOptions {
  settings: EdgeSettings;
  /** Where the edge's ports are registered: the kernel's router in one process, the channel's in the edge process. */
  router: Router;
  /** The web app's tables; omit to send its ops to `webdb` through the web port. */
  store?: WebStore;
  /** The body of /healthz beyond `status`: databases, processes, downstream servers. */
  health: () => Promise<JsonObject>;
  /** More Prometheus lines for /metrics (the edge process: one series per process of the set). */
  metrics?: () => string[];
  resolve?: Resolver;
  /** Tests only: what carries an outbound request (a client metadata document) once its destination passed the checks. */
  egressFetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export interface Edge {
  app: Hono;
  close(): Promise<void>;
  /** What drainHttp needs from the MCP endpoint: answer held calls now, and how many calls still run. */
  calls: { stopHolding(): void; running(): number };
}

export function createEdgeApp(options: EdgeOptions): Edge {
  const { settings, router } = options;
  // The gateway endpoint answers one thing: a connector host's progress of an execution an agent's call follows.
  const executions = createExecutions();
  const gatewayPort = router.register('gateway', (envelope) => executions.handle(envelope), CAPABILITIES.gateway);
  const webPort = router.register('web', async () => null, CAPABILITIES.web);
  const metrics = createMetrics();
  const app = new Hono();
  // The client's address for throttles and audit lines: the socket's, or behind trusted proxies what they forwarded.
  app.use('*', clientAddressMiddleware(settings.trustProxy));
  app.use('*', metrics.middleware);
  app.use('*', closeUnreadBodies);
  // Before any route: a Host this server answers to, then a bounded body (gateway/edge.ts).
  app.use('*', hostGuard(settings.publicUrl, settings.listenPort, settings.allowedHosts));
  app.use('*', bodyLimits(settings.limits));
  app.get('/healthz', async (c) => c.json({ status: 'ok', ...(await options.health()) }));
  // The latest signed checkpoint for monitors and witnesses: public, read-only, nothing secret in it.
  app.get('/audit/checkpoint', async (c) => {
    const note = await gatewayPort.send('audit', { op: 'audit.checkpoint' });
    if (typeof note !== 'string') return c.text('the audit log is empty: no checkpoint yet\n', 404);
    return c.text(note, 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  });
  app.get('/metrics', async (c) => {
    const processes = (options.metrics?.() ?? []).map((line) => `${line}\n`).join('');
    // Request and approval metrics live with the core, in this process or the kernel's (gateway/operator/metrics.ts);
    // while it cannot answer, the HTTP and process series still serve, with a comment saying what is missing.
    const core = await gatewayPort.send('operator', { op: 'metrics' }).then(
      (text) => (typeof text === 'string' ? text : ''),
      (error: Error) => `# countersign: request metrics unavailable: ${error.message.replace(/\s+/g, ' ')}\n`,
    );
    return c.text(metrics.render() + processes + core, 200, { 'content-type': 'text/plain; version=0.0.4' });
  });
  const report = (what: string, detail: string) => void gatewayPort.send('kernel', { op: 'edge.refused', what, detail }).catch(() => {});
  const store = options.store ?? remoteWebStore(webPort);
  const external = settings.auth === 'builtin' ? undefined : settings.oauth;
  // The built-in authorization server (gateway/oauth/): its rows live in the web tables, a token's agent is the kernel's.
  const builtin =
    settings.auth === 'external'
      ? null
      : createAuthorizationServer({
          publicUrl: settings.publicUrl,
          signingKey: settings.oauthSigningKey ?? missing('oauthSigningKey: the built-in authorization server signs with the key from gateway/keys.ts'),
          store: store.oauth,
          agentActive: async (name) => (await gatewayPort.send('kernel', { op: 'agent.resolve', name })) !== null,
          fetch: metadataDocumentFetch({ resolve: options.resolve, transport: options.egressFetch, report }),
        });
  app.route('/', oauthMetadataRoute({ publicUrl: settings.publicUrl, oauth: external, builtinIssuer: builtin?.issuer }));
  if (builtin) app.route('/', builtin.routes);
  const mcp = createMcpHandler({
    port: gatewayPort,
    holdSeconds: settings.holdSeconds,
    publicUrl: settings.publicUrl,
    host: settings.host,
    listenPort: settings.listenPort,
    // OAuth resource-server mode: a verified access token's subject names the agent it acts as.
    oauth: external && {
      ...external,
      principalFor: (subject: string) => gatewayPort.send('kernel', { op: 'agent.resolve', name: subject }) as Promise<Principal | null>,
    },
    rateLimitPerMinute: settings.rateLimitPerMinute,
    builtin: builtin
      ? { verify: (token) => builtin.verify(token), principalFor: (name) => gatewayPort.send('kernel', { op: 'agent.resolve', name }) as Promise<Principal | null> }
      : undefined,
    maxBodyBytes: settings.limits.mcpBodyBytes,
    report,
    executions,
  });
  app.all('/mcp', (c) => mcp.handle(c));
  const web = createApprovalWeb({
    port: webPort,
    store,
    connect: builtin?.connect,
    publicUrl: settings.publicUrl,
    sandbox: settings.sandbox,
    vapidPublicKey: settings.vapidPublicKey,
    resolve: options.resolve,
  });
  app.route('/', web);
  return { app, close: () => mcp.close(), calls: { stopHolding: () => mcp.stopHolding(), running: () => mcp.callsRunning() } };
}

function missing(what: string): never {
  throw new Error(`edge settings lack ${what}`);
}
