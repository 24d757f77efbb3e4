import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { RequestView } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { requireApprover } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { InboxBody } from '../views/inbox.tsx';

/**
 * `/`: the signed-in approver's inbox, newest first, with a history of what left it. `/events` is a server-sent
 * event stream that says when the inbox changed; the page then fetches `/inbox/fragment` and swaps it in.
 */

const POLL_MS = 1000;
// Streams end now and then; EventSource reconnects by itself, and a stream never outlives a revoked session for long.
const STREAM_MS = 5 * 60_000;

async function load(deps: WebDeps, approverId: string): Promise<{ pending: RequestView[]; history: RequestView[] }> {
  const pending = (await deps.kernel.inbox(approverId)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  await deps.history.saw(approverId, pending.map((r) => r.id));
  const pendingIds = new Set(pending.map((r) => r.id));
  const gone = (await deps.history.recent(approverId)).filter((id) => !pendingIds.has(id));
  // Anything seen that is no longer waiting for this approver: decided (by them or others), expired, cancelled.
  const history = (await Promise.all(gone.map((id) => deps.kernel.request(id, approverId)))).filter((r): r is RequestView => r !== null);
  return { pending, history: history.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt)) };
}

const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * An SSE stream that polls `read` every POLL_MS for up to STREAM_MS: an event whenever what it reads (`key`) changes,
 * the first one always (it tells the page the stream is live), a keep-alive comment every 15 quiet polls. `read`
 * answering null or throwing (the approver was removed, the kernel is gone) ends the stream; the page keeps what it shows.
 */
function pollingStream(c: Context<WebEnv>, event: string, read: () => Promise<{ key: string; data: unknown } | null>): Response {
  return streamSSE(c, async (stream) => {
    let aborted = false;
    stream.onAbort(() => {
      aborted = true;
    });
    let last: string | null = null;
    const until = Date.now() + STREAM_MS;
    let beat = 0;
    while (!aborted && Date.now() < until) {
      const now = await read().catch(() => null);
      if (!now) break;
      if (now.key !== last) {
        await stream.writeSSE({ event, data: JSON.stringify(now.data) });
        last = now.key;
      } else if (++beat % 15 === 0) {
        await stream.write(': keep-alive\n\n');
      }
      await stream.sleep(POLL_MS);
    }
  });
}

/**
 * `/events?request=ID`: one request's changes (a decision by anyone, its state, its outcome) for its open page, as
 * `request` events; the first describes what the page already shows. Only a request the approver may see is
 * followed: for any other the stream says nothing and ends, as for one that does not exist.
 */
function requestEvents(c: Context<WebEnv>, deps: WebDeps, approverId: string, requestId: string): Response {
  return pollingStream(c, 'request', async () => {
    const request = REQUEST_ID.test(requestId) ? await deps.kernel.request(requestId, approverId) : null;
    if (!request) return null;
    const { state, approvals, updatedAt } = request;
    return { key: JSON.stringify({ state, approvals: approvals.map((a) => [a.approverId, a.decision]), updatedAt }), data: { state, approvals: approvals.length } };
  });
}

export function inboxRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get('/', requireApprover, async (c) => {
    const { pending, history } = await load(deps, c.var.approver!.id);
    return render(
      c,
      { title: 'Inbox', script: 'inbox' },
      <section>
        <h1>Waiting for you</h1>
        <InboxBody pending={pending} history={history} />
        {deps.vapidPublicKey ? (
          <div class="push" id="push" data-key={deps.vapidPublicKey} hidden>
            <button type="button" id="enable-push" class="secondary">
              Enable notifications
            </button>
          </div>
        ) : null}
        <div id="status" role="status" aria-live="polite" hidden></div>
      </section>,
    );
  });

  app.get('/inbox/fragment', requireApprover, async (c) => {
    const { pending, history } = await load(deps, c.var.approver!.id);
    return c.html((<InboxBody pending={pending} history={history} />).toString());
  });

  app.get('/events', requireApprover, (c) => {
    const approverId = c.var.approver!.id;
    const requestId = c.req.query('request');
    if (requestId !== undefined) return requestEvents(c, deps, approverId, requestId);
    // The pending ids, as the inbox page lists them; reading them also records them as seen.
    return pollingStream(c, 'inbox', async () => {
      const pending = await deps.kernel.inbox(approverId);
      await deps.history.saw(approverId, pending.map((r) => r.id));
      const ids = pending.map((r) => r.id).sort();
      return { key: ids.join(','), data: { pending: ids } };
    });
  });

  return app;
}
