import { eq } from 'drizzle-orm';
import type webpush from 'web-push';
import { z } from 'zod';
import { CAPABILITIES, KernelError, type Db, type Json, type Router } from '../../kernel/index.ts';
import { EgressRefused, checkDestination, egressFetch, type EgressInit, type EgressPolicy, type Resolver } from '../../net/egress.ts';
import { pushSubscriptions } from '../schema.ts';
import { pushPayload, webhookBody, type ApprovalRequested } from './message.ts';
import type { VapidKeys } from './vapid.ts';

export { loadOrCreateVapidKeys, type VapidKeys } from './vapid.ts';
export { webhookBody, pushPayload, notificationSummary, type ApprovalRequested } from './message.ts';

/**
 * The `notifier` endpoint: the kernel tells it a request waits for approval; it posts each configured webhook and
 * sends Web Push to the devices of approvers who may decide it. Only the summary and the link leave; failures are
 * logged without URLs' secrets and never hold up the request, since the kernel does not wait for this.
 * Every request goes through net/egress.ts: https, public addresses checked at connect time, no redirects; a
 * webhook may reach a private network only when config says `allowPrivateNetwork: true` for it. Refusals are audited.
 */

export interface NotifierOptions {
  db: Db;
  publicUrl: string;
  webhooks: readonly (string | { url: string; allowPrivateNetwork?: boolean })[];
  /** Null turns Web Push off. */
  vapid: VapidKeys | null;
  /**
   * Tests only: what carries a request once its destination passed the checks (default: egressFetch, which also
   * pins the checked address for the connection).
   */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Tests only: DNS resolution for the address checks. */
  resolve?: Resolver;
  log?: (line: string) => void;
}

const requested = z.object({ op: z.literal('approval.requested'), requestId: z.string().min(1), summary: z.string(), url: z.string().nullable().optional() });

/** What the notifier may send: whose inbox holds a request, so pushes go only to those who can decide it. */
export const NOTIFIER_CAPABILITIES = CAPABILITIES.notifier;

/** A webhook URL's host is safe to log; its path often is the secret (Slack's hooks.slack.com/services/...). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}

/** Registers `notifier` on the router. Returns a function that resolves when all notices sent so far are done (tests). */
export function registerNotifier(router: Router, options: NotifierOptions): { settled(): Promise<void> } {
  const log = options.log ?? ((line: string) => console.warn(line));
  const webhooks = options.webhooks.map((hook) => (typeof hook === 'string' ? { url: hook, allowPrivateNetwork: false } : { url: hook.url, allowPrivateNetwork: hook.allowPrivateNetwork ?? false }));
  async function send(url: string, init: EgressInit, policy: EgressPolicy): Promise<Response> {
    const checked = { ...policy, resolve: options.resolve };
    if (!options.fetch) return egressFetch(checked)(url, init);
    await checkDestination(url, checked);
    return options.fetch(url, { ...init, body: init.body as BodyInit | undefined, redirect: 'manual' });
  }
  /** A refused destination is logged and audited (counted per second by the kernel); the request goes on. */
  function refused(error: EgressRefused, requestId: string) {
    log(`notifier: ${error.detail} (request ${requestId}): refused`);
    void port.send('kernel', { op: 'edge.refused', what: 'egress', detail: error.detail }).catch(() => {});
  }
  const inFlight = new Set<Promise<void>>();
  const port = router.register('notifier', async ({ body }) => {
    const parsed = requested.safeParse(body);
    if (!parsed.success) throw new KernelError('bad_request', `the notifier accepts {op: "approval.requested", requestId, summary, url}: ${z.prettifyError(parsed.error)}`);
    const notice: ApprovalRequested = {
      requestId: parsed.data.requestId,
      summary: parsed.data.summary,
      url: parsed.data.url ?? `${options.publicUrl.replace(/\/$/, '')}/requests/${encodeURIComponent(parsed.data.requestId)}`,
    };
    const job = Promise.allSettled([...webhooks.map((hook) => postWebhook(hook, notice)), pushAll(notice)]).then(() => {});
    inFlight.add(job);
    void job.finally(() => inFlight.delete(job));
    return true satisfies Json;
  }, CAPABILITIES.notifier);

  async function postWebhook(hook: { url: string; allowPrivateNetwork: boolean }, notice: ApprovalRequested): Promise<void> {
    try {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(webhookBody(notice)), signal: AbortSignal.timeout(10_000) };
      const response = await send(hook.url, init, { what: 'webhook', allowPrivateNetwork: hook.allowPrivateNetwork });
      if (!response.ok) log(`notifier: webhook at ${hostOf(hook.url)} answered ${response.status} for request ${notice.requestId}`);
    } catch (error) {
      if (error instanceof EgressRefused) return refused(error, notice.requestId);
      log(`notifier: webhook at ${hostOf(hook.url)} failed for request ${notice.requestId}: ${(error as Error).name}`);
    }
  }

  async function pushAll(notice: ApprovalRequested): Promise<void> {
    const vapid = options.vapid;
    if (!vapid) return;
    const rows = await options.db.select().from(pushSubscriptions);
    const approvers = [...new Set(rows.map((row) => row.approverId))];
    const mayDecide = new Set<string>();
    await Promise.all(
      approvers.map(async (approverId) => {
        try {
          const inbox = await port.send<{ id: string }[] & Json>('kernel', { op: 'approval.inbox', approverId });
          if (inbox.some((r) => r.id === notice.requestId)) mayDecide.add(approverId);
        } catch {
          // A removed approver's leftover subscription: they get nothing.
        }
      }),
    );
    const payload = pushPayload(notice);
    await Promise.all(
      rows
        .filter((row) => mayDecide.has(row.approverId))
        .map(async (row) => {
          try {
            // web-push encrypts (RFC 8291) and signs the VAPID JWT (RFC 8292); the request itself goes out through
            // `send`, like the webhooks, so it shares their timeout and tests can see exactly what leaves.
            const vapidDetails = { subject: options.publicUrl.startsWith('https:') ? options.publicUrl : 'mailto:countersign@localhost', publicKey: vapid.publicKey, privateKey: vapid.privateKey };
            const { default: { generateRequestDetails } } = await import('web-push');
            const request = generateRequestDetails(row.subscription as webpush.PushSubscription, payload, { vapidDetails, TTL: 600 });
            const init = { method: request.method, headers: request.headers as Record<string, string>, body: request.body ? new Uint8Array(request.body) : undefined, signal: AbortSignal.timeout(10_000) };
            const response = await send(request.endpoint, init, { what: 'push endpoint' });
            // 404/410: the browser dropped the subscription; forget it.
            if (response.status === 404 || response.status === 410) await options.db.delete(pushSubscriptions).where(eq(pushSubscriptions.endpoint, row.endpoint));
            else if (!response.ok) log(`notifier: push to ${hostOf(row.endpoint)} failed for request ${notice.requestId} (${response.status})`);
          } catch (error) {
            if (error instanceof EgressRefused) return refused(error, notice.requestId);
            log(`notifier: push to ${hostOf(row.endpoint)} failed for request ${notice.requestId}: ${(error as Error).name}`);
          }
        }),
    );
  }

  return {
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
