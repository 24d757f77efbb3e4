import { eq } from 'drizzle-orm';
import webpush from 'web-push';
import { z } from 'zod';
import { KernelError, type Db, type Json, type Router } from '../../kernel/index.ts';
import { pushSubscriptions } from '../schema.ts';
import { pushPayload, webhookBody, type ApprovalRequested } from './message.ts';
import type { VapidKeys } from './vapid.ts';

export { loadOrCreateVapidKeys, type VapidKeys } from './vapid.ts';
export { webhookBody, pushPayload, notificationSummary, type ApprovalRequested } from './message.ts';

/**
 * The `notifier` endpoint: the kernel tells it a request waits for approval; it posts each configured webhook and
 * sends Web Push to the devices of approvers who may decide it. Only the summary and the link leave; failures are
 * logged without URLs' secrets and never hold up the request, since the kernel does not wait for this.
 */

export interface NotifierOptions {
  db: Db;
  publicUrl: string;
  webhooks: readonly string[];
  /** Null turns Web Push off. */
  vapid: VapidKeys | null;
  /** Where webhook and push requests go (default: global fetch); tests pass their own. */
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

const requested = z.object({ op: z.literal('approval.requested'), requestId: z.string().min(1), summary: z.string(), url: z.string().nullable().optional() });

/** What the notifier may send: whose inbox holds a request, so pushes go only to those who can decide it. */
export const NOTIFIER_CAPABILITIES = ['kernel:approval.inbox'] as const;

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
  const send = options.fetch ?? fetch;
  const inFlight = new Set<Promise<void>>();
  const port = router.register('notifier', async ({ body }) => {
    const parsed = requested.safeParse(body);
    if (!parsed.success) throw new KernelError('bad_request', `the notifier accepts {op: "approval.requested", requestId, summary, url}: ${z.prettifyError(parsed.error)}`);
    const notice: ApprovalRequested = {
      requestId: parsed.data.requestId,
      summary: parsed.data.summary,
      url: parsed.data.url ?? `${options.publicUrl.replace(/\/$/, '')}/requests/${encodeURIComponent(parsed.data.requestId)}`,
    };
    const job = Promise.allSettled([...options.webhooks.map((hook) => postWebhook(hook, notice)), pushAll(notice)]).then(() => {});
    inFlight.add(job);
    void job.finally(() => inFlight.delete(job));
    return true satisfies Json;
  }, [...NOTIFIER_CAPABILITIES]);

  async function postWebhook(hook: string, notice: ApprovalRequested): Promise<void> {
    try {
      const response = await send(hook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(webhookBody(notice)),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) log(`notifier: webhook at ${hostOf(hook)} answered ${response.status} for request ${notice.requestId}`);
    } catch (error) {
      log(`notifier: webhook at ${hostOf(hook)} failed for request ${notice.requestId}: ${(error as Error).name}`);
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
            const request = webpush.generateRequestDetails(row.subscription as webpush.PushSubscription, payload, { vapidDetails, TTL: 600 });
            const response = await send(request.endpoint, { method: request.method, headers: request.headers as Record<string, string>, body: request.body ? new Uint8Array(request.body) : undefined, signal: AbortSignal.timeout(10_000) });
            // 404/410: the browser dropped the subscription; forget it.
            if (response.status === 404 || response.status === 410) await options.db.delete(pushSubscriptions).where(eq(pushSubscriptions.endpoint, row.endpoint));
            else if (!response.ok) log(`notifier: push to ${hostOf(row.endpoint)} failed for request ${notice.requestId} (${response.status})`);
          } catch (error) {
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
