import { Hono } from 'hono';
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
  const history = (await Promise.all(gone.map((id) => deps.kernel.request(id)))).filter((r): r is RequestView => r !== null);
  return { pending, history: history.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt)) };
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
    return streamSSE(c, async (stream) => {
      let aborted = false;
      stream.onAbort(() => {
        aborted = true;
      });
      // Null until the first event, which always goes out: it tells the page the stream is live.
      let last: string | null = null;
      const until = Date.now() + STREAM_MS;
      let beat = 0;
      while (!aborted && Date.now() < until) {
        let ids: string;
        try {
          const pending = await deps.kernel.inbox(approverId);
          await deps.history.saw(approverId, pending.map((r) => r.id));
          ids = pending.map((r) => r.id).sort().join(',');
        } catch {
          // The approver was removed, or the kernel is gone: end the stream; the page keeps what it shows.
          break;
        }
        if (ids !== last) {
          await stream.writeSSE({ event: 'inbox', data: JSON.stringify({ pending: ids ? ids.split(',') : [] }) });
          last = ids;
        } else if (++beat % 15 === 0) {
          await stream.write(': keep-alive\n\n');
        }
        await stream.sleep(POLL_MS);
      }
    });
  });

  return app;
}
