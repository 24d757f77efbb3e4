import { Hono } from 'hono';
import type { Resolver } from '../net/egress.ts';
import { HTTPException } from 'hono/http-exception';
import { KernelError, type Db, type Port } from '../kernel/index.ts';
import { bundleAssets, serveAsset, type AssetManifest } from './assets.ts';
import type { WebDeps, WebEnv } from './context.ts';
import { kernelClient } from './kernel-client.ts';
import { roleMembers } from './role-members.ts';
import { problem } from './problem.tsx';
import { auditRoutes } from './audit/routes.tsx';
import { enrollRoutes } from './routes/enroll.tsx';
import { inboxRoutes } from './routes/inbox.tsx';
import { requestRoutes } from './routes/request.tsx';
import { pushRoutes } from './routes/push.ts';
import { deviceApi } from './devices/api.ts';
import { deviceRoutes } from './routes/devices.tsx';
import { dbWebStore, remoteWebStore, type WebStore } from './store.ts';
import { signInRoutes } from './routes/signin.tsx';
import { connectRoutes } from './routes/connect.tsx';
import type { ConnectFlow } from './connect-flow.ts';
import { csrfToken, originCheck, securityHeaders, throttled } from './security.ts';
import { failureThrottle } from '../net/throttle.ts';
import { cookiePolicy, sessionLoader } from './sessions.ts';

export { APPROVAL_WEB_CAPABILITIES, kernelClient, type Approver, type KernelClient } from './kernel-client.ts';
export { createInvite, normalizeEmail, type Invite } from './invites.ts';
export { approverInvite } from './invite-command.ts';
export { devicePair } from './devices/command.ts';
export { createPairingCode, type PairingCode } from './devices/pairing.ts';
export type { WebDeps, WebEnv } from './context.ts';
export type { ConnectFlow, ConnectRequest } from './connect-flow.ts';
export { dbWebStore, remoteWebStore, serveWebStore, type WebStore } from './store.ts';
// The notifier (approval-web/notify/) holds the VAPID private key: it runs beside the kernel, so the edge never imports it.

export interface ApprovalWebOptions {
  /** The web app's router port; it needs CAPABILITIES.web. */
  port: Port;
  /**
   * The web app's own tables (invites, sessions, challenges, push subscriptions): `store` when they live in another
   * process, or `db` to run the same ops on a handle in this process; neither: its ops go to `webdb` through `port`.
   */
  store?: WebStore;
  db?: Db;
  /** The origin people open, e.g. https://countersign.example.com or http://localhost:8787. Passkeys are bound to it. */
  publicUrl: string;
  sandbox?: boolean;
  /** The VAPID public key (from loadOrCreateVapidKeys) to offer "Enable notifications"; omit to leave push off. */
  vapidPublicKey?: string | null;
  /** Tests only: DNS resolution for checking push endpoints. */
  resolve?: Resolver;
  /** The built-in OAuth authorization server's consent side (gateway/oauth/); omit when there is none. */
  connect?: ConnectFlow;
  /** Tests only: who holds a role (default: enrolled approvers whose effective roles include it, as the kernel says). */
  approversOf?: (role: string) => Promise<string[]>;
}

/** Passkeys need a secure context: https anywhere, or plain http only on localhost. */
function checkPublicUrl(publicUrl: string): URL {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw new KernelError('config_error', `publicUrl "${publicUrl}" is not a URL; set it to e.g. https://countersign.example.com`);
  }
  const local = url.hostname === 'localhost' || url.hostname.endsWith('.localhost');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw new KernelError(
      'config_error',
      `publicUrl ${url.origin} cannot carry passkeys: browsers allow them only on https, or on http://localhost. ` +
        'Set publicUrl (COUNTERSIGN_PUBLIC_URL) to an https address, or open Countersign at http://localhost:PORT.',
    );
  }
  return url;
}

/**
 * The approval web app: passkey enrollment and sign-in, the inbox, and (part 2) the approval pages. It reaches the
 * kernel only through router messages. Mount it after the gateway's own routes, e.g.
 * `server.all('*', (c) => web.fetch(c.req.raw, c.env))`, so its middleware never runs for /mcp.
 * @example const web = createApprovalWeb({ port: router.register('web', handler, CAPABILITIES.web), db, publicUrl });
 */
export function createApprovalWeb(options: ApprovalWebOptions): Hono<WebEnv> {
  const url = checkPublicUrl(options.publicUrl);
  const kernel = kernelClient(options.port);
  const store = options.store ?? (options.db ? dbWebStore(options.db) : remoteWebStore(options.port));
  const deps: WebDeps = {
    store,
    kernel,
    publicUrl: url.origin,
    origin: url.origin,
    rpId: url.hostname,
    sandbox: options.sandbox ?? false,
    sessionCookie: cookiePolicy(url.origin, 'cs_session'),
    csrfCookie: cookiePolicy(url.origin, 'cs_csrf'),
    history: { saw: (approverId, ids) => store.historySaw(approverId, ids), recent: (approverId) => store.historyRecent(approverId) },
    vapidPublicKey: options.vapidPublicKey ?? null,
    resolve: options.resolve,
    approversOf: options.approversOf ?? roleMembers(options.port, kernel),
    connect: options.connect ?? null,
  };
  // Bundled once, at creation; a client script that does not compile shows up on the first page instead of crashing.
  const assets: Promise<AssetManifest> = bundleAssets();
  assets.catch((error: unknown) => console.error(`approval web: bundling client scripts failed: ${(error as Error).message}`));

  const app = new Hono<WebEnv>();
  app.use('*', async (c, next) => {
    c.set('sandbox', deps.sandbox);
    c.set('assets', await assets);
    return next();
  });
  app.get('/assets/:name', (c) => serveAsset(c, c.var.assets, c.req.param('name')));
  const report = (what: string, detail: string) => void options.port.send('kernel', { op: 'edge.refused', what, detail }).catch(() => {});
  // Guessing is throttled per client address: 10 failed pairing codes per 10 minutes, 10 failed sign-ins per 5.
  app.use('/api/v1/devices/pair', throttled(failureThrottle({ max: 10, windowSeconds: 600 }), 'pairing code', report));
  // Devices authenticate by signature, not by cookie: their API sits before the browser-only origin and CSRF checks.
  app.route('/api/v1/devices', deviceApi(deps, report));
  app.use('*', securityHeaders(url.origin));
  app.use('*', ...originCheck(url.origin, report));
  app.use('*', sessionLoader(deps));
  app.use('*', csrfToken(deps, report));
  app.use('/signin/verify', throttled(failureThrottle({ max: 10, windowSeconds: 300 }), 'sign-in', report));

  app.route('/', enrollRoutes(deps));
  app.route('/', signInRoutes(deps));
  app.route('/', inboxRoutes(deps));
  app.route('/', requestRoutes(deps));
  app.route('/', pushRoutes(deps, report));
  app.route('/', deviceRoutes(deps));
  app.route('/', connectRoutes(deps, options.port));
  app.route('/audit', auditRoutes(deps, options.port));

  app.notFound((c) => problem(c, 404, 'not_found', `There is no page at ${c.req.path}. Go to the inbox at /.`));
  app.onError((error, c) => {
    // Hono's csrf() refuses a cross-site form post by throwing; answer it like our own origin check does.
    if (error instanceof HTTPException && error.status === 403) {
      return problem(c, 403, 'cross_origin', `This form was not sent from ${url.origin}. Open Countersign at ${url.origin} and try again.`);
    }
    if (error instanceof HTTPException) return error.getResponse();
    console.error(`approval web: ${c.req.method} ${c.req.path} failed: ${error.message}`);
    return problem(c, 500, 'internal', 'Countersign could not finish this request. Try again; if it keeps failing, check the server log.');
  });
  return app;
}
