import { Hono } from 'hono';
import type { WebDeps, WebEnv } from '../context.ts';
import { requireApprover } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { RequestCard } from '../views/request-card.tsx';

/** `/`: the signed-in approver's inbox of requests waiting for their decision. */
export function inboxRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  app.get('/', requireApprover, async (c) => {
    const approver = c.var.approver!;
    const pending = await deps.kernel.inbox(approver.id);
    return render(
      c,
      { title: 'Inbox', script: 'inbox' },
      <section>
        <h1>Waiting for you</h1>
        {pending.length === 0 ? (
          <p class="empty" id="inbox-empty">
            Nothing is waiting for your approval. When an agent asks for something that needs you, it appears here.
          </p>
        ) : (
          <ul class="inbox" id="inbox">
            {pending.map((request) => (
              <RequestCard request={request} />
            ))}
          </ul>
        )}
      </section>,
    );
  });
  return app;
}
