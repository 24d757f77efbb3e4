import { Hono } from 'hono';
import { z } from 'zod';
import { EgressRefused, checkDestination } from '../../net/egress.ts';
import type { Reporter } from '../security.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { requireApprover } from '../sessions.ts';
import { readJson } from './body.ts';

/**
 * Web Push: the service worker at `/sw.js` (scope `/`) and `POST /push/subscribe`, which stores the browser's
 * subscription for the signed-in approver (CSRF-checked like every POST). The worker shows only what the notifier
 * sent: the summary and the link. An endpoint must be https and resolve to public addresses only (net/egress.ts; the
 * notifier checks again at every send), and belongs to the approver who registered it: another approver's
 * registration of the same endpoint is refused, never an overwrite.
 */

const SERVICE_WORKER = `self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  const title = typeof data.title === 'string' ? data.title : 'Approval needed';
  const body = typeof data.body === 'string' ? data.body : '';
  const url = typeof data.url === 'string' && data.url.startsWith(self.location.origin + '/') ? data.url : '/';
  event.waitUntil(self.registration.showNotification(title, { body, data: { url }, tag: url }));
});
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(self.clients.openWindow(url));
});
`;

const subscription = z.object({
  endpoint: z.url({ protocol: /^https$/, error: 'an https push endpoint' }).max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({ p256dh: z.string().min(1).max(256), auth: z.string().min(1).max(256) }),
});

export function pushRoutes(deps: WebDeps, report: Reporter): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get('/sw.js', (c) =>
    c.body(SERVICE_WORKER, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }),
  );

  app.post('/push/subscribe', requireApprover, async (c) => {
    if (!deps.vapidPublicKey) return problem(c, 404, 'push_off', 'Web Push is not enabled on this server. Set notify.webPush: true in countersign.yaml.');
    const body = await readJson(c, subscription);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const value = { endpoint: body.value.endpoint, expirationTime: body.value.expirationTime ?? null, keys: body.value.keys };
    try {
      await checkDestination(value.endpoint, { what: 'push endpoint', resolve: deps.resolve });
    } catch (error) {
      if (!(error instanceof EgressRefused)) throw error;
      report('egress', `${error.detail} (approver ${c.var.approver!.id})`);
      return problem(c, 400, 'endpoint_refused', error.message);
    }
    const me = c.var.approver!.id;
    // Insert, or refresh the keys of my own registration; a row of another approver stays theirs.
    if (!(await deps.store.subscribePush(me, value))) {
      report('push_endpoint_taken', `approver ${me}`);
      return problem(c, 409, 'endpoint_taken', 'This push endpoint is registered to another person. Turn notifications off and on again in this browser to get a new one.');
    }
    return c.json({ ok: true });
  });

  return app;
}
